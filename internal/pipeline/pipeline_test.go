package pipeline

import (
	"context"
	"testing"

	"github.com/bulkprov/bulkprov/internal/awsconf"
)

func TestBuildWiresEveryStep(t *testing.T) {
	// Endpoints on a closed port: Build must not call any service.
	ep := awsconf.Endpoints{S3: "http://127.0.0.1:1", DynamoDB: "http://127.0.0.1:1", SES: "http://127.0.0.1:1", SFN: "http://127.0.0.1:1", KMS: "http://127.0.0.1:1"}
	c, err := awsconf.New(context.Background(), ep)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Build(c, Resources{Table: "t", JobsBucket: "j", ProvisioningBucket: "p", KMSKeyID: "k", StateMachineARN: "arn:sm"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Ingest == nil || h.Records == nil || h.Provisioning == nil || h.Welcome == nil || h.Finalize == nil {
		t.Fatalf("Build left a step unwired: %+v", h)
	}
	if h.Records.JobsBucket != "j" || h.Provisioning.ProvisioningBucket != "p" {
		t.Fatalf("resources not passed on: records %q, provisioning %q", h.Records.JobsBucket, h.Provisioning.ProvisioningBucket)
	}
}
