// Command finalize is the workflow's last step: report.csv, summary.json and
// the job's final status.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/store"
)

func main() {
	h := lambdaenv.Wire("finalize", required, newHandler)
	lambda.Start(h.Handle)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "JOBS_BUCKET"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*finalize.Handler, error) {
	st := store.New(ddbc.New(e.AWS, e.Endpoints), e.Table)
	return finalize.NewStep(s3c.New(e.AWS, e.Endpoints), st, e.Log), nil
}
