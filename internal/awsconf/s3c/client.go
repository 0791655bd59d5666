// Package s3c builds the S3: path-style against a local endpoint client from an awsbase config, alone, so
// a binary that needs only this service links only it.
package s3c

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// New builds the client, pointed at ep's override when there is one.
func New(cfg aws.Config, ep awsbase.Endpoints) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if ep.S3 != "" {
			o.BaseEndpoint = aws.String(ep.S3)
			o.UsePathStyle = true
		}
	})
}
