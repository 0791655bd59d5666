// Command send-welcome is the workflow's phase 2 step: the welcome emails of
// one batch, through SES v2, at most once each.
package main

import (
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
	h := lambdaenv.Wire("send-welcome", required, newHandler)
	lambda.Start(h.Handle)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*welcome.Handler, error) {
	st := store.New(ddbc.New(e.AWS, e.Endpoints), e.Table)
	box := secrets.NewBox(kmsc.New(e.AWS, e.Endpoints), e.KMSKeyID)
	return welcome.NewStep(s3c.New(e.AWS, e.Endpoints), st, box, sesc.New(e.AWS, e.Endpoints), e.Log), nil
}
