// Command write-provisioning is the workflow's phase 1 second step: the
// desk phones' auto-provisioning files of one batch.
package main

import (
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
	h := lambdaenv.Wire("write-provisioning", required, newHandler)
	lambda.Start(h.Handle)
}

// required are the resources the stack must set on this function.
var required = []string{"TABLE_NAME", "PROVISIONING_BUCKET", "KMS_KEY_ID", "PROVISIONING_URL"}

// newHandler wires the handler from the environment.
func newHandler(e lambdaenv.Env) (*provision.Step, error) {
	st := store.New(ddbc.New(e.AWS, e.Endpoints), e.Table)
	box := secrets.NewBox(kmsc.New(e.AWS, e.Endpoints), e.KMSKeyID)
	return provision.NewStep(s3c.New(e.AWS, e.Endpoints), st, box, e.ProvisioningBucket, e.ProvisioningURL, e.Log)
}
