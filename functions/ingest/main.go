// Command ingest is the S3-triggered function: it validates an uploaded CSV
// and starts the job's workflow.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/awsconf/sfnc"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := lambdaenv.Logger(os.Getenv)
	res := lambdaenv.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET", "STATE_MACHINE_ARN", "KMS_KEY_ID"); err != nil {
		log.Error("ingest: start", "error", err)
		os.Exit(1)
	}
	cfg, ep, err := lambdaenv.Config(context.Background())
	if err != nil {
		log.Error("ingest: start", "error", err)
		os.Exit(1)
	}
	st := store.New(ddbc.New(cfg, ep), res.Table)
	s3 := s3c.New(cfg, ep)
	// The box seals the SIP secrets and PINs an upload imports (import-secrets).
	seal := secrets.NewBox(kmsc.New(cfg, ep), res.KMSKeyID)
	h := ingest.NewStep(s3, st, sfnc.New(cfg, ep), finalize.NewStep(s3, st, log), seal, res.JobsBucket, res.StateMachineARN, 0, log)
	lambda.Start(h.Handle)
}
