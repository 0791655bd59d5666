// Command finalize is the workflow's last step: report.csv, summary.json and
// the job's final status.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := lambdaenv.Logger(os.Getenv)
	res := lambdaenv.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET"); err != nil {
		log.Error("finalize: start", "error", err)
		os.Exit(1)
	}
	cfg, ep, err := lambdaenv.Config(context.Background())
	if err != nil {
		log.Error("finalize: start", "error", err)
		os.Exit(1)
	}
	st := store.New(ddbc.New(cfg, ep), res.Table)
	lambda.Start(finalize.NewStep(s3c.New(cfg, ep), st, log).Handle)
}
