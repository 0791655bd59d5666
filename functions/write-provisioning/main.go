// Command write-provisioning is the workflow's phase 1 second step: the
// desk phones' auto-provisioning files of one batch.
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
	if err := res.Require("TABLE_NAME", "PROVISIONING_BUCKET", "KMS_KEY_ID", "PROVISIONING_URL"); err != nil {
		log.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	clients, err := pipeline.Clients(context.Background())
	if err != nil {
		log.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	st := store.New(clients.DynamoDB, res.Table)
	step, err := pipeline.NewProvisioning(clients, st, secrets.NewBox(clients.KMS, res.KMSKeyID), res, log)
	if err != nil {
		log.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(step.Handle)
}
