// Command write-provisioning is the workflow's phase 1 second step: the
// desk phones' auto-provisioning files of one batch.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := lambdaenv.Logger(os.Getenv)
	res := lambdaenv.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "PROVISIONING_BUCKET", "KMS_KEY_ID", "PROVISIONING_URL"); err != nil {
		log.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	cfg, ep, err := lambdaenv.Config(context.Background())
	if err != nil {
		log.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	st := store.New(ddbc.New(cfg, ep), res.Table)
	step, err := provision.NewStep(s3c.New(cfg, ep), st, secrets.NewBox(kmsc.New(cfg, ep), res.KMSKeyID), res.ProvisioningBucket, res.ProvisioningURL, log)
	if err != nil {
		log.Error("write-provisioning: start", "error", err)
		os.Exit(1)
	}
	lambda.Start(step.Handle)
}
