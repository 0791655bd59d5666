// Command finalize is the workflow's last step: report.csv, summary.json and
// the job's final status.
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
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET"); err != nil {
		log.Error("finalize: start", "error", err)
		os.Exit(1)
	}
	clients, err := pipeline.Clients(context.Background())
	if err != nil {
		log.Error("finalize: start", "error", err)
		os.Exit(1)
	}
	h := pipeline.NewFinalize(clients, store.New(clients.DynamoDB, res.Table), log)
	lambda.Start(h.Handle)
}
