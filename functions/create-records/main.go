// Command create-records is the workflow's phase 1 first step: every PBX
// object of a batch of rows, one DynamoDB transaction per few rows.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := pipeline.LambdaLogger(os.Getenv)
	h, err := newHandler(context.Background(), log, os.Getenv)
	if err != nil {
		log.Error("create-records: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// newHandler wires the handler from the environment.
func newHandler(ctx context.Context, log *slog.Logger, getenv func(string) string) (*records.Handler, error) {
	res := pipeline.ResourcesFromEnv(getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"); err != nil {
		return nil, err
	}
	clients, err := pipeline.Clients(ctx)
	if err != nil {
		return nil, err
	}
	return pipeline.NewRecords(clients, store.New(clients.DynamoDB, res.Table), secrets.NewBox(clients.KMS, res.KMSKeyID), res, log), nil
}
