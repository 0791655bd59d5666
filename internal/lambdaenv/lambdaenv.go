// Package lambdaenv is what every Lambda function reads at start-up: the
// resource names the CDK stack sets, the JSON logger, the AWS config. It
// imports no step and no service client, so each function links only the
// step and the clients it uses (functions/<name>/main.go wires them).
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// Resources names what the handlers work on.
type Resources struct {
	Table              string
	UploadsBucket      string
	JobsBucket         string
	ProvisioningBucket string
	KMSKeyID           string
	StateMachineARN    string
	ProvisioningURL    string // the URL phones are given; bootstrap files point at it
	// WelcomeConcurrency is phase 2's MaxConcurrency (each child takes that
	// share of the SES send rate); 0: ingest's default.
	WelcomeConcurrency int
}

// ResourcesFromEnv reads the names the CDK stack sets on each function.
func ResourcesFromEnv(getenv func(string) string) Resources {
	return Resources{
		Table:              getenv("TABLE_NAME"),
		UploadsBucket:      getenv("UPLOADS_BUCKET"),
		JobsBucket:         getenv("JOBS_BUCKET"),
		ProvisioningBucket: getenv("PROVISIONING_BUCKET"),
		KMSKeyID:           getenv("KMS_KEY_ID"),
		StateMachineARN:    getenv("STATE_MACHINE_ARN"),
		ProvisioningURL:    getenv("PROVISIONING_URL"),
	}
}

// Require reports the first of the named resources that is empty, so a
// function fails at start-up rather than on its first event.
func (r Resources) Require(names ...string) error {
	values := map[string]string{
		"TABLE_NAME": r.Table, "UPLOADS_BUCKET": r.UploadsBucket, "JOBS_BUCKET": r.JobsBucket,
		"PROVISIONING_BUCKET": r.ProvisioningBucket, "KMS_KEY_ID": r.KMSKeyID, "STATE_MACHINE_ARN": r.StateMachineARN,
		"PROVISIONING_URL": r.ProvisioningURL,
	}
	for _, n := range names {
		v, known := values[n]
		if !known {
			return fmt.Errorf("pipeline: unknown resource %s", n)
		}
		if v == "" {
			return fmt.Errorf("%s must be set", n)
		}
	}
	return nil
}

// Logger is the JSON logger every function uses; its level follows
// AWS_LAMBDA_LOG_LEVEL (set by Lambda's ApplicationLogLevel), INFO otherwise.
func Logger(getenv func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(getenv("AWS_LAMBDA_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// Config loads the AWS config and the endpoint overrides from the
// environment (AWS_ENDPOINT_URL_*), for the per-service client packages.
func Config(ctx context.Context) (aws.Config, awsbase.Endpoints, error) {
	ep := awsbase.EndpointsFromEnv()
	cfg, err := awsbase.Load(ctx, ep)
	return cfg, ep, err
}
