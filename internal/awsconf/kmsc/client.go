// Package kmsc builds the KMS client from an awsbase config, alone, so
// a binary that needs only this service links only it.
package kmsc

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// New builds the client, pointed at ep's override when there is one.
func New(cfg aws.Config, ep awsbase.Endpoints) *kms.Client {
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		if ep.KMS != "" {
			o.BaseEndpoint = aws.String(ep.KMS)
		}
	})
}
