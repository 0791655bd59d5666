// Command finalize is the workflow's last step: report.csv, summary.json and
// the job's final status.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	res := pipeline.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET"); err != nil {
		logger.Error("finalize: start", "error", err)
		os.Exit(1)
	}
	clients, err := awsconf.New(context.Background(), awsconf.EndpointsFromEnv())
	if err != nil {
		logger.Error("finalize: start", "error", err)
		os.Exit(1)
	}
	h := &finalize.Handler{S3: clients.S3, Jobs: store.New(clients.DynamoDB, res.Table), Logger: logger}
	lambda.Start(h.Handle)
}
