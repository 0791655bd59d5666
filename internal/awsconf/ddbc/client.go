// Package ddbc builds the DynamoDB client from an awsbase config, alone, so
// a binary that needs only this service links only it.
package ddbc

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// New builds the client, pointed at ep's override when there is one.
func New(cfg aws.Config, ep awsbase.Endpoints) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if ep.DynamoDB != "" {
			o.BaseEndpoint = aws.String(ep.DynamoDB)
			// DynamoDB Local's CRC32 header does not match the body of some
			// error responses; the SDK would log a spurious mismatch.
			o.DisableValidateResponseChecksum = true
		}
	})
}
