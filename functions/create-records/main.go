// Command create-records is the workflow's phase 1 first step: every PBX
// object of a batch of rows, one DynamoDB transaction per few rows.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := lambdaenv.Logger(os.Getenv)
	h, err := newHandler(context.Background(), log, os.Getenv)
	if err != nil {
		log.Error("create-records: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler wires the handler from the environment.
func newHandler(ctx context.Context, log *slog.Logger, getenv func(string) string) (*records.Handler, error) {
	res := lambdaenv.ResourcesFromEnv(getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"); err != nil {
		return nil, err
	}
	cfg, ep, err := lambdaenv.Config(ctx)
	if err != nil {
		return nil, err
	}
	st := store.New(ddbc.New(cfg, ep), res.Table)
	return records.NewStep(st, s3c.New(cfg, ep), secrets.NewBox(kmsc.New(cfg, ep), res.KMSKeyID), res.JobsBucket, log), nil
}
