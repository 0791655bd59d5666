// Command create-records is the workflow's phase 1 first step: every PBX
// object of a batch of rows, one DynamoDB transaction per few rows.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	h := lambdaenv.Wire("create-records", required, newHandler)
	lambda.Start(h.Handle)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*records.Handler, error) {
	st := store.New(ddbc.New(e.AWS, e.Endpoints), e.Table)
	return records.NewStep(st, s3c.New(e.AWS, e.Endpoints), secrets.NewBox(kmsc.New(e.AWS, e.Endpoints), e.KMSKeyID), e.JobsBucket, e.Log), nil
}
