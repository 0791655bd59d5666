package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/awsconf"
)

func TestRequireNamesTheMissingVariable(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "bulkprov", "JOBS_BUCKET": "jobs"}
	r := ResourcesFromEnv(func(k string) string { return env[k] })
	if err := r.Require("TABLE_NAME", "JOBS_BUCKET"); err != nil {
		t.Fatal(err)
	}
	err := r.Require("TABLE_NAME", "KMS_KEY_ID")
	if err == nil || !strings.Contains(err.Error(), "KMS_KEY_ID") {
		t.Fatalf("Require = %v, want an error naming KMS_KEY_ID", err)
	}
	if err := r.Require("NOPE"); err == nil {
		t.Fatal("Require accepted an unknown resource name")
	}
}

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

func TestLambdaLoggerLevel(t *testing.T) {
	for env, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "WARN": slog.LevelWarn, "bogus": slog.LevelInfo} {
		l := LambdaLogger(func(string) string { return env })
		if !l.Enabled(context.Background(), want) || (want > slog.LevelDebug && l.Enabled(context.Background(), want-4)) {
			t.Errorf("AWS_LAMBDA_LOG_LEVEL=%q: logger level is not %v", env, want)
		}
	}
}
