// Package sfnc builds the Step Functions client from an awsbase config, alone, so
// a binary that needs only this service links only it.
package sfnc

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// New builds the client, pointed at ep's override when there is one.
func New(cfg aws.Config, ep awsbase.Endpoints) *sfn.Client {
	return sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if ep.SFN != "" {
			o.BaseEndpoint = aws.String(ep.SFN)
		}
	})
}
