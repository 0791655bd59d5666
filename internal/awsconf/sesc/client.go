// Package sesc builds the SES v2 client from an awsbase config, alone, so
// a binary that needs only this service links only it.
package sesc

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
)

// New builds the client, pointed at ep's override when there is one.
func New(cfg aws.Config, ep awsbase.Endpoints) *sesv2.Client {
	return sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
		if ep.SES != "" {
			o.BaseEndpoint = aws.String(ep.SES)
		}
	})
}
