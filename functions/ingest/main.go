// Command ingest is the Lambda that S3 invokes for each uploaded CSV: it
// validates the file and starts the provisioning workflow (see
// internal/ingest).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx := context.Background()
	clients, err := awsconf.New(ctx, awsconf.EndpointsFromEnv())
	if err != nil {
		log.Error("build AWS clients", "err", err)
		os.Exit(1)
	}
	env := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			log.Error("missing environment variable", "name", name)
			os.Exit(1)
		}
		return v
	}
	handler := ingest.NewHandler(ingest.Config{
		JobsBucket:      env("JOBS_BUCKET"),
		StateMachineARN: env("STATE_MACHINE_ARN"),
		KnownPhoneModel: provision.KnownModel,
		Logger:          log,
	}, clients.S3, store.New(clients.DynamoDB, env("TABLE_NAME")), clients.SFN)
	lambda.Start(handler.Handle)
}
