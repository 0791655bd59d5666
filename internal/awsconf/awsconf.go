// Package awsconf builds the aws-sdk-go-v2 configuration and clients every
// binary uses: the Lambda functions against AWS, the CLI and the tests
// against the embedded endpoints on loopback. One place, so that retries,
// the HTTP client and call accounting are the same everywhere. A Lambda
// function builds only its own clients (awsbase and the per-service
// packages s3c, ddbc, kmsc, sesc, sfnc); New builds all five.
package awsconf

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/bulkprov/bulkprov/internal/awsconf/awsbase"
	"github.com/bulkprov/bulkprov/internal/awsconf/ddbc"
	"github.com/bulkprov/bulkprov/internal/awsconf/kmsc"
	"github.com/bulkprov/bulkprov/internal/awsconf/s3c"
	"github.com/bulkprov/bulkprov/internal/awsconf/sesc"
	"github.com/bulkprov/bulkprov/internal/awsconf/sfnc"
)

// Endpoints overrides service endpoints; empty fields mean the AWS default.
type Endpoints = awsbase.Endpoints

// Option adjusts the configuration before clients are built.
type Option = awsbase.Option

// EndpointsFromEnv: see awsbase.EndpointsFromEnv.
func EndpointsFromEnv() Endpoints { return awsbase.EndpointsFromEnv() }

// Clients are the service clients the project uses, built from one config.
type Clients struct {
	Config   aws.Config
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SES      *sesv2.Client
	SFN      *sfn.Client
	KMS      *kms.Client
}

// New loads the configuration (awsbase.Load) and builds every client.
func New(ctx context.Context, ep Endpoints, opts ...Option) (*Clients, error) {
	cfg, err := awsbase.Load(ctx, ep, opts...)
	if err != nil {
		return nil, err
	}
	return &Clients{Config: cfg, S3: s3c.New(cfg, ep), DynamoDB: ddbc.New(cfg, ep), SES: sesc.New(cfg, ep), SFN: sfnc.New(cfg, ep), KMS: kmsc.New(cfg, ep)}, nil
}
