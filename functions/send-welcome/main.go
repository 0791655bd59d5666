// Command send-welcome is the workflow's phase-2 step that sends the welcome
// emails of one batch (see internal/welcome.Handler). Environment:
// TABLE_NAME, KMS_KEY_ID, and optionally the SDK's AWS_ENDPOINT_URL_*
// overrides for a local stack. The jobs bucket comes with each input.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := newHandler(context.Background(), logger, os.Getenv)
	if err != nil {
		logger.Error("send-welcome: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler wires the handler from the environment.
func newHandler(ctx context.Context, logger *slog.Logger, getenv func(string) string) (*welcome.Handler, error) {
	table, keyID := getenv("TABLE_NAME"), getenv("KMS_KEY_ID")
	if table == "" || keyID == "" {
		return nil, fmt.Errorf("TABLE_NAME and KMS_KEY_ID must be set")
	}
	clients, err := awsconf.New(ctx, awsconf.EndpointsFromEnv())
	if err != nil {
		return nil, err
	}
	st := store.New(clients.DynamoDB, table)
	return &welcome.Handler{
		S3:       clients.S3,
		Store:    st,
		Secrets:  secrets.NewBox(clients.KMS, keyID),
		SES:      clients.SES,
		Settings: welcome.StoreSettings(st, jobOptions(st)),
		Logger:   logger,
	}, nil
}

// jobOptions reads a job's upload options from its job item.
func jobOptions(st *store.Store) welcome.JobOptionsFunc {
	return func(ctx context.Context, tenant, job string) (pbx.Options, error) {
		j, err := st.GetJob(ctx, tenant, job)
		if err != nil {
			return pbx.Options{}, err
		}
		return j.Options, nil
	}
}
