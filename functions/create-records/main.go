// Command create-records is the workflow's phase-1 step that creates the
// PBX records of one batch of rows (see internal/records.Handler).
// Environment: TABLE_NAME, JOBS_BUCKET, KMS_KEY_ID, and optionally the
// SDK's AWS_ENDPOINT_URL_* overrides for a local stack.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := newHandler(context.Background(), logger, os.Getenv)
	if err != nil {
		logger.Error("create-records: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler wires the handler from the environment.
func newHandler(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*records.Handler, error) {
	table, bucket, keyID := getenv("TABLE_NAME"), getenv("JOBS_BUCKET"), getenv("KMS_KEY_ID")
	if table == "" || bucket == "" || keyID == "" {
		return nil, fmt.Errorf("TABLE_NAME, JOBS_BUCKET and KMS_KEY_ID must be set")
	}
	clients, err := awsconf.New(ctx, awsconf.EndpointsFromEnv())
	if err != nil {
		return nil, err
	}
	st := store.New(clients.DynamoDB, table)
	return &records.Handler{
		Store:      st,
		S3:         clients.S3,
		Secrets:    secrets.NewBox(clients.KMS, keyID),
		Jobs:       records.StoreJobs(st),
		Log:        logger,
		JobsBucket: bucket,
	}, nil
}
