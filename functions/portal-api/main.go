// Command portal-api is the tenant portal's Lambda behind an API Gateway
// HTTP API with a Cognito JWT authorizer (see internal/portal). The tenant
// is read from the ID token's `custom:tenant` claim only.
//
// Environment: TABLE_NAME, UPLOADS_BUCKET, JOBS_BUCKET, KMS_KEY_ID (to open
// the credentials of the welcome emails an admin releases); API_BASE_PATH
// when the API is mounted under a path (e.g. "/api" behind CloudFront).
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/awsconf/sesc"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/portal"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
	"github.com/bulkprov/bulkprov/internal/welcomejob"
)

func main() {
	log := lambdaenv.Logger(os.Getenv)
	res := lambdaenv.ResourcesFromEnv(os.Getenv)
	if err := res.Require("TABLE_NAME", "UPLOADS_BUCKET", "JOBS_BUCKET", "KMS_KEY_ID"); err != nil {
		log.Error("portal-api: start", "error", err)
		os.Exit(1)
	}
	cfg, ep, err := lambdaenv.Config(context.Background())
	if err != nil {
		log.Error("portal-api: start", "error", err)
		os.Exit(1)
	}
	st := store.New(ddbc.New(cfg, ep), res.Table)
	objects := s3c.New(cfg, ep)
	fin := finalize.NewStep(objects, st, log)
	h := portal.New(portal.Config{
		UploadsBucket:   res.UploadsBucket,
		JobsBucket:      res.JobsBucket,
		BasePath:        os.Getenv("API_BASE_PATH"),
		KnownPhoneModel: provision.KnownModel,
		Logger:          log,
	}, portal.Deps{
		Jobs:      st,
		Settings:  st,
		Lookup:    st,
		Presigner: s3.NewPresignClient(objects),
		Objects:   objects,
		Tenants:   st,
		Rows:      fin,
		Users:     st,
		Files:     objects,
		// The same code path as `bulkprov send-welcome`; each request sends
		// what fits in the API's 29 s and tells the page to go on.
		Emails: &welcomejob.Sender{
			Welcome:  welcome.NewStep(objects, st, secrets.NewBox(kmsc.New(cfg, ep), res.KMSKeyID), sesc.New(cfg, ep), log),
			Finalize: fin, Jobs: st, S3: objects, JobsBucket: res.JobsBucket,
		},
		Budget: st, // per-tenant request budgets (issue #17)
	})
	lambda.Start(h.Handle)
}
