// Command ingest is the S3-triggered function: it validates an uploaded CSV
// and starts the job's workflow.
package main

import (
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
	h := lambdaenv.Wire("ingest", required, newHandler)
	lambda.Start(h.Handle)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "JOBS_BUCKET", "STATE_MACHINE_ARN", "KMS_KEY_ID"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*ingest.Handler, error) {
	st := store.New(ddbc.New(e.AWS, e.Endpoints), e.Table)
	s3 := s3c.New(e.AWS, e.Endpoints)
	// The box seals the SIP secrets and PINs an upload imports (import-secrets).
	seal := secrets.NewBox(kmsc.New(e.AWS, e.Endpoints), e.KMSKeyID)
	return ingest.NewStep(s3, st, sfnc.New(e.AWS, e.Endpoints), finalize.NewStep(s3, st, e.Log), seal, e.JobsBucket, e.StateMachineARN, 0, e.Log), nil
}
