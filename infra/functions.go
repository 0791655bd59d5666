package main

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// functionSpec describes one of the Go Lambdas. Everything they share
// (runtime, architecture, logging, role shape) lives in newGoFunction.
type functionSpec struct {
	Name        string // folder under the asset directory, and the function name's suffix
	Description string
	MemoryMiB   int
	TimeoutSec  int
	Reserved    int // reserved concurrency; 0 = none
	Env         map[string]*string
}

// goFunction is a function with the role and log group it owns.
type goFunction struct {
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
	Alarm    awscloudwatch.Alarm
}

// functionDefaults are the stack-wide settings for every function.
type functionDefaults struct {
	Stage     string
	AssetDir  string // holds <name>/bootstrap
	Retention awslogs.RetentionDays
	Removal   awscdk.RemovalPolicy
}

// newGoFunction builds a provided.al2023 arm64 function from
// <AssetDir>/<name>/bootstrap with its own role (no managed policies: the
// only default grant is writing to its own log group), its own log group,
// JSON logs and an Errors alarm. Callers add the function's calls to Role.
func newGoFunction(scope constructs.Construct, id string, d functionDefaults, spec functionSpec) *goFunction {
	name := fmt.Sprintf("bulkprov-%s-%s", d.Stage, spec.Name)

	logGroup := awslogs.NewLogGroup(scope, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + name),
		Retention:     d.Retention,
		RemovalPolicy: d.Removal,
	})
	role := awsiam.NewRole(scope, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("bulkprov " + spec.Name + ": exactly the calls it makes"),
	})
	// Only CreateLogStream/PutLogEvents on its own group: Lambda creates no
	// group when one is configured, so logs:CreateLogGroup is not needed.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logGroup.LogGroupArn()),
	}))

	var reserved *float64
	if spec.Reserved > 0 {
		reserved = jsii.Number(spec.Reserved)
	}
	fn := awslambda.NewFunction(scope, jsii.String(id), &awslambda.FunctionProps{
		FunctionName:                 jsii.String(name),
		Description:                  jsii.String(spec.Description),
		Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:                 awslambda.Architecture_ARM_64(),
		Handler:                      jsii.String("bootstrap"),
		Code:                         awslambda.Code_FromAsset(jsii.String(filepath.Join(d.AssetDir, spec.Name)), nil),
		MemorySize:                   jsii.Number(spec.MemoryMiB),
		Timeout:                      awscdk.Duration_Seconds(jsii.Number(spec.TimeoutSec)),
		Role:                         role,
		LogGroup:                     logGroup,
		LoggingFormat:                awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2:        awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:             awslambda.SystemLogLevel_WARN,
		ReservedConcurrentExecutions: reserved,
		Environment:                  &spec.Env,
	})
	// The role's policy must exist before the function can run with it.
	fn.Node().AddDependency(role)

	alarm := fn.MetricErrors(&awscloudwatch.MetricOptions{
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
	}).CreateAlarm(scope, jsii.String(id+"ErrorsAlarm"), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String(name + " returned errors (after the workflow's retries these become failed rows)"),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	return &goFunction{Function: fn, Role: role, LogGroup: logGroup, Alarm: alarm}
}

// allow adds one statement to the function's role.
func (f *goFunction) allow(sid string, actions []string, resources []string, conditions map[string]any) {
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}
	if conditions != nil {
		props.Conditions = &conditions
	}
	f.Role.AddToPolicy(awsiam.NewPolicyStatement(props))
}

// retentionDays maps the context's day count to CloudWatch's allowed values.
func retentionDays(days int) (awslogs.RetentionDays, error) {
	allowed := map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}
	r, ok := allowed[days]
	if !ok {
		return "", fmt.Errorf("context logRetentionDays: %d is not a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, ...)", days)
	}
	return r, nil
}
