// Command portal-api is the tenant portal's Lambda behind an API Gateway
// HTTP API with a Cognito JWT authorizer (see internal/portal). The tenant
// is read from the ID token's `custom:tenant` claim only.
//
// Environment: TABLE_NAME, UPLOADS_BUCKET, JOBS_BUCKET; API_BASE_PATH when
// the API is mounted under a path (e.g. "/api" behind CloudFront).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/portal"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	ctx := context.Background()
	ep := awsbase.EndpointsFromEnv()
	cfg, err := awsbase.Load(ctx, ep)
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
	st := store.New(ddbc.New(cfg, ep), env("TABLE_NAME"))
	objects := s3c.New(cfg, ep)
	h := portal.New(portal.Config{
		UploadsBucket:   env("UPLOADS_BUCKET"),
		JobsBucket:      env("JOBS_BUCKET"),
		BasePath:        os.Getenv("API_BASE_PATH"),
		KnownPhoneModel: provision.KnownModel,
		Logger:          log,
	}, portal.Deps{
		Jobs:      st,
		Settings:  st,
		Lookup:    st,
		Presigner: s3.NewPresignClient(objects),
		Objects:   objects,
	})
	lambda.Start(h.Handle)
}
