package main

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bulkprov/bulkprov/internal/lambdaenv/lambdaenvtest"
)

func TestNewHandlerNeedsItsEnvironment(t *testing.T) {
	resources := map[string]string{"TABLE_NAME": "bulkprov", "JOBS_BUCKET": "bulkprov-jobs", "KMS_KEY_ID": "alias/bulkprov",
		"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:111122223333:stateMachine:bulkprov"}
	h := lambdaenvtest.Wire(t, resources, nil, required, newHandler)
	// A key outside tenants/ is logged and dropped before any service call.
	var ev events.S3Event
	ev.Records = append(ev.Records, events.S3EventRecord{})
	ev.Records[0].S3.Bucket.Name = "bulkprov-uploads"
	ev.Records[0].S3.Object.Key = "elsewhere/staff.csv"
	if err := h.Handle(context.Background(), ev); err != nil {
		t.Fatalf("Handle = %v, want the upload rejected without an error", err)
	}
}
