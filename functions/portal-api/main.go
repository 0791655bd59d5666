// Command portal-api is the tenant portal's Lambda behind an API Gateway
// HTTP API with a Cognito JWT authorizer (see internal/portal). The tenant
// is read from the ID token's `custom:tenant` claim only.
//
// Environment: TABLE_NAME, UPLOADS_BUCKET, JOBS_BUCKET, KMS_KEY_ID (to open
// the credentials of the welcome emails an admin releases); API_BASE_PATH
// when the API is mounted under a path (e.g. "/api" behind CloudFront).
package main

import (
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
	h := lambdaenv.Wire("portal-api", required, newHandler)
	lambda.Start(h.Handle)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "UPLOADS_BUCKET", "JOBS_BUCKET", "KMS_KEY_ID"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*portal.Handler, error) {
	st := store.New(ddbc.New(e.AWS, e.Endpoints), e.Table)
	objects := s3c.New(e.AWS, e.Endpoints)
	fin := finalize.NewStep(objects, st, e.Log)
	return portal.New(portal.Config{
		UploadsBucket:   e.UploadsBucket,
		JobsBucket:      e.JobsBucket,
		BasePath:        e.Getenv("API_BASE_PATH"),
		KnownPhoneModel: provision.KnownModel,
		Logger:          e.Log,
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
			Welcome:  welcome.NewStep(objects, st, secrets.NewBox(kmsc.New(e.AWS, e.Endpoints), e.KMSKeyID), sesc.New(e.AWS, e.Endpoints), e.Log),
			Finalize: fin, Jobs: st, S3: objects, JobsBucket: e.JobsBucket,
		},
		Budget: st, // per-tenant request budgets (issue #17)
	}), nil
}
