// Package awsbase is the service-independent half of awsconf: endpoint
// overrides and the aws.Config every client is built from. It imports no
// service package, so a Lambda function links only the clients it builds
// (awsconf's per-service packages), not all five.
package awsbase

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
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

// Option adjusts the configuration before clients are built, e.g. to add
// the call-accounting middleware to cfg.APIOptions.
type Option func(*aws.Config)

// Load loads the default configuration (region, credentials from the
// environment or role). Against local endpoints it uses static test
// credentials when none are set and checksums only when required, which the
// emulators expect.
func Load(ctx context.Context, ep Endpoints, opts ...Option) (aws.Config, error) {
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
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg, nil
}
