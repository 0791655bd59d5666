package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// S3 invokes ingest asynchronously. These are Lambda's defaults, set
// explicitly so a change is a reviewed diff: two retries, and an event that
// waited (throttled) for six hours is given up.
const (
	ingestRetryAttempts      = 2
	ingestMaxEventAgeSeconds = 6 * 60 * 60
	// failedEventRetentionDays is SQS's maximum: an operator has two weeks
	// to read and replay a failed upload event.
	failedEventRetentionDays = 14
)

// ingestFailures is where ingest's given-up S3 events go.
type ingestFailures struct {
	Queue awssqs.Queue
	Alarm awscloudwatch.Alarm
}

// addIngestFailureDestination sends every event ingest still fails after
// its retries (or that expired) to an SQS queue instead of dropping it:
// Lambda's onFailure destination record carries the S3 event, the error
// and the attempt count. An alarm fires on the first such record.
//
// The L1 EventInvokeConfig is used because the L2 SQS destination grants
// sqs:GetQueueAttributes and sqs:GetQueueUrl besides sqs:SendMessage;
// Lambda needs only SendMessage.
func addIngestFailureDestination(stack awscdk.Stack, ingest *goFunction, stage string, removal awscdk.RemovalPolicy) *ingestFailures {
	queue := awssqs.NewQueue(stack, jsii.String("IngestFailures"), &awssqs.QueueProps{
		QueueName:       jsii.String("bulkprov-" + stage + "-ingest-failures"),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(failedEventRetentionDays)),
		RemovalPolicy:   removal,
	})
	ingest.allow("SendFailedEvents", []string{"sqs:SendMessage"}, []string{*queue.QueueArn()}, nil)

	invokeConfig := awslambda.NewCfnEventInvokeConfig(stack, jsii.String("IngestAsyncInvoke"), &awslambda.CfnEventInvokeConfigProps{
		FunctionName:             ingest.Function.FunctionName(),
		Qualifier:                jsii.String("$LATEST"),
		MaximumRetryAttempts:     jsii.Number(ingestRetryAttempts),
		MaximumEventAgeInSeconds: jsii.Number(ingestMaxEventAgeSeconds),
		DestinationConfig: &awslambda.CfnEventInvokeConfig_DestinationConfigProperty{
			OnFailure: &awslambda.CfnEventInvokeConfig_OnFailureProperty{Destination: queue.QueueArn()},
		},
	})
	// Lambda checks at configuration time that the role may send to the
	// destination, so the role's policy must exist first.
	invokeConfig.Node().AddDependency(ingest.Role)

	alarm := queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		Statistic: jsii.String("Maximum"),
	}).CreateAlarm(stack, jsii.String("IngestFailuresAlarm"), &awscloudwatch.CreateAlarmOptions{
		AlarmDescription:   jsii.String("bulkprov-" + stage + "-ingest gave up on an uploaded CSV's S3 event: read the record in the ingest-failures queue and re-upload or replay it"),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})

	except(queue, nagException{
		Rule: "AwsSolutions-SQS3",
		Reason: "This queue is itself the dead-letter destination of the ingest function's failed asynchronous invocations; " +
			"a dead-letter queue behind it would only move the records again. Messages are kept 14 days and an alarm fires on the first one.",
	})
	return &ingestFailures{Queue: queue, Alarm: alarm}
}
