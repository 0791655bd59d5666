// Command write-provisioning is the workflow step that writes desk phones'
// auto-provisioning files (see internal/provision.Step). Environment:
// TABLE_NAME, PROVISIONING_BUCKET, KMS_KEY_ID, and optionally the SDK's
// AWS_ENDPOINT_URL_* overrides for a local stack.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	step, err := newStep(context.Background(), logger, os.Getenv)
	if err != nil {
		logger.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(step.Handle)
}

// newStep wires the step from the environment.
func newStep(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*provision.Step, error) {
	table, bucket, keyID := getenv("TABLE_NAME"), getenv("PROVISIONING_BUCKET"), getenv("KMS_KEY_ID")
	if table == "" || bucket == "" || keyID == "" {
		return nil, fmt.Errorf("TABLE_NAME, PROVISIONING_BUCKET and KMS_KEY_ID must be set")
	}
	clients, err := awsconf.New(ctx, awsconf.EndpointsFromEnv())
	if err != nil {
		return nil, err
	}
	renderer, err := provision.NewRenderer()
	if err != nil {
		return nil, err
	}
	st := store.New(clients.DynamoDB, table)
	return &provision.Step{
		S3:                 clients.S3,
		Settings:           st,
		Credentials:        st,
		Secrets:            secrets.NewBox(clients.KMS, keyID),
		Renderer:           renderer,
		ProvisioningBucket: bucket,
		Logger:             logger,
	}, nil
}
