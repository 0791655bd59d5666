package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// refusalFunction answers every request with the provisioning 401; it is
// the provisioning distribution's fallback origin for S3's 403/404.
type refusalFunction struct {
	Function awslambda.Function
	Role     awsiam.Role
	URL      awslambda.FunctionUrl
}

// newRefusalFunction builds the fallback origin. Its body is bodyFile
// (infra/cloudfront/errors/401.txt), which the viewer-request function's
// tests hold equal to its own 401 body.
func newRefusalFunction(scope constructs.Construct, stage, bodyFile string, retention awslogs.RetentionDays, removal awscdk.RemovalPolicy) (*refusalFunction, error) {
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return nil, fmt.Errorf("provisioning refusal body: %w", err)
	}
	code, err := refusalCode(string(body))
	if err != nil {
		return nil, err
	}
	name := "bulkprov-" + stage + "-provisioning-refusal"
	logGroup := awslogs.NewLogGroup(scope, jsii.String("ProvisioningRefusalLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/lambda/" + name),
		Retention:     retention,
		RemovalPolicy: removal,
	})
	role := awsiam.NewRole(scope, jsii.String("ProvisioningRefusalRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("bulkprov provisioning-refusal: its own logs only"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logGroup.LogGroupArn()),
	}))
	fn := awslambda.NewFunction(scope, jsii.String("ProvisioningRefusal"), &awslambda.FunctionProps{
		FunctionName:     jsii.String(name),
		Description:      jsii.String("Answers phone requests for missing provisioning files with the same 401 as a wrong credential"),
		Runtime:          awslambda.Runtime_NODEJS_24_X(),
		Architecture:     awslambda.Architecture_ARM_64(),
		Handler:          jsii.String("index.handler"),
		Code:             awslambda.Code_FromInline(jsii.String(code)),
		MemorySize:       jsii.Number(128),
		Timeout:          awscdk.Duration_Seconds(jsii.Number(3)),
		Role:             role,
		LogGroup:         logGroup,
		LoggingFormat:    awslambda.LoggingFormat_JSON,
		SystemLogLevelV2: awslambda.SystemLogLevel_WARN,
	})
	fn.Node().AddDependency(role)
	// IAM auth: only CloudFront (OAC-signed) can call the URL.
	url := fn.AddFunctionUrl(&awslambda.FunctionUrlOptions{AuthType: awslambda.FunctionUrlAuthType_AWS_IAM})
	return &refusalFunction{Function: fn, Role: role, URL: url}, nil
}

// refusalCode is the function's whole source (Node.js, CommonJS).
func refusalCode(body string) (string, error) {
	response := map[string]any{
		"statusCode": 401,
		"headers": map[string]string{
			"www-authenticate": provisioningRealm,
			"cache-control":    "no-store",
			"content-type":     "text/plain; charset=utf-8",
		},
		"body": body,
	}
	js, err := json.Marshal(response)
	if err != nil {
		return "", fmt.Errorf("provisioning refusal: %w", err)
	}
	return "// bulkprov: the provisioning distribution's 401 for files that don't exist.\n" +
		"const response = " + string(js) + ";\n" +
		"exports.handler = async () => response;\n", nil
}
