// Package awsconf builds the aws-sdk-go-v2 configuration and clients every
// binary uses: the Lambda functions against AWS, the CLI and the tests
// against the embedded endpoints on loopback. One place, so that retries,
// the HTTP client and call accounting are the same everywhere.
package awsconf

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// Endpoints overrides service endpoints; empty fields mean the AWS default.
type Endpoints struct {
	S3       string
	DynamoDB string
	SES      string
	SFN      string
	KMS      string
}

// Local reports whether any endpoint is overridden (a local stack).
func (e Endpoints) Local() bool {
	return e.S3 != "" || e.DynamoDB != "" || e.SES != "" || e.SFN != "" || e.KMS != ""
}

// EndpointsFromEnv reads the SDK's standard per-service override variables
// (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SESV2,
// AWS_ENDPOINT_URL_SFN, AWS_ENDPOINT_URL_KMS), with AWS_ENDPOINT_URL as the
// fallback for all of them.
func EndpointsFromEnv() Endpoints {
	get := func(name string) string {
		if v := os.Getenv("AWS_ENDPOINT_URL_" + name); v != "" {
			return v
		}
		return os.Getenv("AWS_ENDPOINT_URL")
	}
	return Endpoints{S3: get("S3"), DynamoDB: get("DYNAMODB"), SES: get("SESV2"), SFN: get("SFN"), KMS: get("KMS")}
}

// Clients are the service clients the project uses, built from one config.
type Clients struct {
	Config   aws.Config
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SES      *sesv2.Client
	SFN      *sfn.Client
	KMS      *kms.Client
}

// Option adjusts the configuration before clients are built, e.g. to add
// the call-accounting middleware to cfg.APIOptions.
type Option func(*aws.Config)

// New loads the default configuration (region, credentials from the
// environment or role) and builds the clients. Against local endpoints it
// uses static test credentials when none are set, path-style S3 and
// checksums only when required, which the emulators expect.
func New(ctx context.Context, ep Endpoints, opts ...Option) (*Clients, error) {
	load := []func(*config.LoadOptions) error{
		// NewBuildableClient honours AWS_CA_BUNDLE, which some hosts set.
		config.WithHTTPClient(awshttp.NewBuildableClient()),
		config.WithRetryMode(aws.RetryModeAdaptive),
	}
	if ep.Local() {
		load = append(load,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		)
		if os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
			load = append(load, config.WithRegion("us-east-1"))
		}
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
			load = append(load, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Clients{
		Config: cfg,
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			if ep.S3 != "" {
				o.BaseEndpoint = aws.String(ep.S3)
				o.UsePathStyle = true
			}
		}),
		DynamoDB: dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
			if ep.DynamoDB != "" {
				o.BaseEndpoint = aws.String(ep.DynamoDB)
				// DynamoDB Local's CRC32 header does not match the body of some
				// error responses; the SDK would log a spurious mismatch.
				o.DisableValidateResponseChecksum = true
			}
		}),
		SES: sesv2.NewFromConfig(cfg, func(o *sesv2.Options) {
			if ep.SES != "" {
				o.BaseEndpoint = aws.String(ep.SES)
			}
		}),
		SFN: sfn.NewFromConfig(cfg, func(o *sfn.Options) {
			if ep.SFN != "" {
				o.BaseEndpoint = aws.String(ep.SFN)
			}
		}),
		KMS: kms.NewFromConfig(cfg, func(o *kms.Options) {
			if ep.KMS != "" {
				o.BaseEndpoint = aws.String(ep.KMS)
			}
		}),
	}, nil
}
