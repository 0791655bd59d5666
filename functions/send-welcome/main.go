// Command send-welcome is the workflow's phase 2 step: the welcome emails of
// one batch, through SES v2, at most once each.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/awsconf/sesc"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

func main() {
	log := lambdaenv.Logger(os.Getenv)
	res := lambdaenv.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"); err != nil {
		log.Error("send-welcome: start", "error", err)
		os.Exit(1)
	}
	cfg, ep, err := lambdaenv.Config(context.Background())
	if err != nil {
		log.Error("send-welcome: start", "error", err)
		os.Exit(1)
	}
	st := store.New(ddbc.New(cfg, ep), res.Table)
	h := welcome.NewStep(s3c.New(cfg, ep), st, secrets.NewBox(kmsc.New(cfg, ep), res.KMSKeyID), sesc.New(cfg, ep), log)
	lambda.Start(h.Handle)
}
