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
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/portal"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcomejob"
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
	st := store.New(clients.DynamoDB, env("TABLE_NAME"))
	jobsBucket := env("JOBS_BUCKET")
	fin := pipeline.NewFinalize(clients, st, log)
	h := portal.New(portal.Config{
		UploadsBucket:   env("UPLOADS_BUCKET"),
		JobsBucket:      jobsBucket,
		BasePath:        os.Getenv("API_BASE_PATH"),
		KnownPhoneModel: provision.KnownModel,
		Logger:          log,
	}, portal.Deps{
		Jobs:      st,
		Settings:  st,
		Lookup:    st,
		Presigner: s3.NewPresignClient(clients.S3),
		Objects:   clients.S3,
		Tenants:   st,
		Rows:      fin,
		// The same code path as `bulkprov send-welcome`; each request sends
		// what fits in the API's 29 s and tells the page to go on.
		Emails: &welcomejob.Sender{
			Welcome:  pipeline.NewWelcome(clients, st, secrets.NewBox(clients.KMS, env("KMS_KEY_ID")), log),
			Finalize: fin, Jobs: st, S3: clients.S3, JobsBucket: jobsBucket,
		},
		Budget: st, // per-tenant request budgets (issue #17)
	})
	lambda.Start(h.Handle)
}
