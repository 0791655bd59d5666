// Command ingest is the S3-triggered function: it validates an uploaded CSV
// and starts the job's workflow.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := pipeline.LambdaLogger(os.Getenv)
	res := pipeline.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET", "STATE_MACHINE_ARN"); err != nil {
		log.Error("ingest: start", "error", err)
		os.Exit(1)
	}
	clients, err := pipeline.Clients(context.Background())
	if err != nil {
		log.Error("ingest: start", "error", err)
		os.Exit(1)
	}
	st := store.New(clients.DynamoDB, res.Table)
	h := pipeline.NewIngest(clients, st, pipeline.NewFinalize(clients, st, log), res, log)
	lambda.Start(h.Handle)
}
