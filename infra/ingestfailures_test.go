package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// TestIngestFailureDestination: S3 events ingest still fails after its
// retries go to an encrypted, TLS-only SQS queue kept 14 days, with an
// alarm on the first message and exactly sqs:SendMessage for the function.
func TestIngestFailureDestination(t *testing.T) {
	for _, stage := range []string{"dev", "prod"} {
		t.Run(stage, func(t *testing.T) {
			s := synth(t, stage, nil)
			testIngestFailures(t, s)
		})
	}
}

func testIngestFailures(t *testing.T, s *synthesized) {
	queues := s.resources("AWS::SQS::Queue")
	if len(queues) != 1 {
		t.Fatalf("queues %v, want only the ingest-failures queue", sortedKeys(queues))
	}
	queueID, queue := s.resource(t, "AWS::SQS::Queue", "IngestFailures")
	ingestID, _ := s.resource(t, "AWS::Lambda::Function", "Ingest")
	queueArn := `{"Fn::GetAtt":["` + queueID + `","Arn"]}`
	t.Run("queue", func(t *testing.T) { checkFailureQueueSettings(t, s, queue) })
	t.Run("queue refuses requests without TLS", func(t *testing.T) { checkFailureQueueTLSOnly(t, s, queueID) })
	t.Run("async invoke config", func(t *testing.T) { checkIngestInvokeConfig(t, s, ingestID, queueID) })
	t.Run("only ingest may send, and only SendMessage", func(t *testing.T) { checkOnlyIngestSends(t, s, queueArn) })
	t.Run("alarm on the first failed event", func(t *testing.T) { checkFailureAlarm(t, s, queueID) })
	t.Run("nag: SQS3 suppressed with a reason, SQS4 fixed", func(t *testing.T) { checkFailureQueueNag(t, s, queue) })
}

// checkFailureQueueSettings: the queue's name, SSE and 14-day retention; prod keeps it.
func checkFailureQueueSettings(t *testing.T, s *synthesized, queue map[string]any) {
	p := props(queue)
	cases := []struct {
		prop string
		want any
	}{
		{"QueueName", "bulkprov-" + s.Config.Stage + "-ingest-failures"},
		{"SqsManagedSseEnabled", true},
		{"MessageRetentionPeriod", float64(14 * 24 * 60 * 60)},
	}
	for _, c := range cases {
		if p[c.prop] != c.want {
			t.Errorf("%s = %v, want %v", c.prop, p[c.prop], c.want)
		}
	}
	want := "Delete"
	if s.Config.Prod() {
		want = "Retain"
	}
	if queue["DeletionPolicy"] != want {
		t.Errorf("DeletionPolicy %v, want %s", queue["DeletionPolicy"], want)
	}
}

// checkFailureQueueTLSOnly: a queue policy denies requests without TLS.
func checkFailureQueueTLSOnly(t *testing.T, s *synthesized, queueID string) {
	found := false
	for _, pol := range s.resources("AWS::SQS::QueuePolicy") {
		doc := jsonString(props(pol))
		if strings.Contains(jsonString(props(pol)["Queues"]), `"`+queueID+`"`) &&
			strings.Contains(doc, `"aws:SecureTransport":"false"`) && strings.Contains(doc, `"Effect":"Deny"`) {
			found = true
		}
	}
	if !found {
		t.Error("no queue policy denies aws:SecureTransport=false")
	}
}

// checkIngestInvokeConfig: ingest's async retries, event age and failure destination.
func checkIngestInvokeConfig(t *testing.T, s *synthesized, ingestID, queueID string) {
	configs := s.resources("AWS::Lambda::EventInvokeConfig")
	if len(configs) != 1 {
		t.Fatalf("event invoke configs %v, want one (ingest)", sortedKeys(configs))
	}
	check(t, "ingest: 2 retries, 6 h max event age, failures to the queue", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Lambda::EventInvokeConfig"), m(
			"FunctionName", m("Ref", ingestID),
			"Qualifier", "$LATEST",
			"MaximumRetryAttempts", 2,
			"MaximumEventAgeInSeconds", 21600,
			"DestinationConfig", assertions.Match_ObjectEquals(m(
				"OnFailure", m("Destination", m("Fn::GetAtt", arr(queueID, "Arn"))),
			)),
		))
	})
	// Lambda validates the destination permission when the config is
	// created: the ingest role's policy must come first.
	for _, c := range configs {
		deps := jsonString(c["DependsOn"])
		if !strings.Contains(deps, `"IngestRoleDefaultPolicy`) {
			t.Errorf("DependsOn %s, want the ingest role's policy", deps)
		}
	}
}

// checkOnlyIngestSends: the only SQS grant is the ingest role's SendMessage on the queue.
func checkOnlyIngestSends(t *testing.T, s *synthesized, queueArn string) {
	var sqsStatements []string
	for polID, pol := range s.resources("AWS::IAM::Policy") {
		for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			sm := st.(map[string]any)
			for _, a := range stringList(sm["Action"]) {
				if strings.HasPrefix(a, "sqs:") {
					sqsStatements = append(sqsStatements, polID+" "+a+" "+jsonString(sm["Resource"]))
				}
			}
		}
	}
	if len(sqsStatements) != 1 || !strings.HasPrefix(sqsStatements[0], "IngestRoleDefaultPolicy") ||
		!strings.Contains(sqsStatements[0], " sqs:SendMessage "+queueArn) {
		t.Errorf("sqs grants %v, want exactly sqs:SendMessage on the queue for the ingest role", sqsStatements)
	}
}

// checkFailureAlarm: an alarm fires on the first message in the queue.
func checkFailureAlarm(t *testing.T, s *synthesized, queueID string) {
	check(t, "ApproximateNumberOfMessagesVisible >= 1", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), m(
			"Namespace", "AWS/SQS",
			"MetricName", "ApproximateNumberOfMessagesVisible",
			"Dimensions", arr(m("Name", "QueueName", "Value", m("Fn::GetAtt", arr(queueID, "QueueName")))),
			"Statistic", "Maximum",
			"Threshold", 1,
			"ComparisonOperator", "GreaterThanOrEqualToThreshold",
			"EvaluationPeriods", 1,
			"TreatMissingData", "notBreaching",
		))
	})
}

// checkFailureQueueNag: only AwsSolutions-SQS3 is suppressed, with a reason; no other SQS finding.
func checkFailureQueueNag(t *testing.T, s *synthesized, queue map[string]any) {
	meta, _ := queue["Metadata"].(map[string]any)
	nag, _ := meta["cdk_nag"].(map[string]any)
	rules, _ := nag["rules_to_suppress"].([]any)
	var ids []string
	for _, r := range rules {
		rm := r.(map[string]any)
		ids = append(ids, jsonString(rm["id"]))
		if len(strings.Fields(nagReason(rm["reason"]))) < 8 {
			t.Errorf("suppression %v without a real reason", rm["id"])
		}
	}
	if len(ids) != 1 || ids[0] != `"AwsSolutions-SQS3"` {
		t.Errorf("queue suppressions %v, want only AwsSolutions-SQS3", ids)
	}
	ann := assertions.Annotations_FromStack(s.Stack)
	match := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-SQS.*"))
	for _, f := range append(*ann.FindError(jsii.String("*"), match), *ann.FindWarning(jsii.String("*"), match)...) {
		//lint:ignore SA1019 aws-cdk-go exposes synthesis messages only through this deprecated cxapi type
		t.Errorf("unsuppressed SQS finding at %s: %.300v", *f.Id, f.Entry.Data)
	}
}
