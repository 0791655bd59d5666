// Command send-welcome is the workflow's phase 2 step: the welcome emails of
// one batch, through SES v2, at most once each.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := pipeline.LambdaLogger(os.Getenv)
	res := pipeline.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"); err != nil {
		log.Error("send-welcome: start", "error", err)
		os.Exit(1)
	}
	clients, err := pipeline.Clients(context.Background())
	if err != nil {
		log.Error("send-welcome: start", "error", err)
		os.Exit(1)
	}
	st := store.New(clients.DynamoDB, res.Table)
	h := pipeline.NewWelcome(clients, st, secrets.NewBox(clients.KMS, res.KMSKeyID), log)
	lambda.Start(h.Handle)
}
