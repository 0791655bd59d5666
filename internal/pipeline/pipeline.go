// Package pipeline builds bulkprov's step handlers from a set of AWS clients
// and resource names. The Lambda functions' main.go files and the local run
// both use it, so what runs locally is wired exactly as what is deployed.
package pipeline

import (
	"context"
	"log/slog"

	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// Resources names what the handlers work on (lambdaenv.Resources).
type Resources = lambdaenv.Resources

// ResourcesFromEnv reads the names the CDK stack sets on each function.
func ResourcesFromEnv(getenv func(string) string) Resources {
	return lambdaenv.ResourcesFromEnv(getenv)
}

// Handlers are the five steps of the pipeline.
type Handlers struct {
	Ingest       *ingest.Handler
	Records      *records.Handler
	Provisioning *provision.Step
	Welcome      *welcome.Handler
	Finalize     *finalize.Handler
}

// Build wires every handler. c.SFN is used by ingest to start executions.
func Build(c *awsconf.Clients, r Resources, log *slog.Logger) (*Handlers, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	st := store.New(c.DynamoDB, r.Table)
	box := secrets.NewBox(c.KMS, r.KMSKeyID)
	prov, err := NewProvisioning(c, st, box, r, log)
	if err != nil {
		return nil, err
	}
	fin := NewFinalize(c, st, log)
	return &Handlers{
		Ingest:       NewIngest(c, st, fin, r, log),
		Records:      NewRecords(c, st, box, r, log),
		Provisioning: prov,
		Welcome:      NewWelcome(c, st, box, log),
		Finalize:     fin,
	}, nil
}

// NewIngest wires the ingest handler; fin writes the report of a job that
// ends without a workflow.
func NewIngest(c *awsconf.Clients, st *store.Store, fin *finalize.Handler, r Resources, log *slog.Logger) *ingest.Handler {
	return ingest.NewStep(c.S3, st, c.SFN, fin, r.JobsBucket, r.StateMachineARN, r.WelcomeConcurrency, log)
}

// NewFinalize wires the finalize step.
func NewFinalize(c *awsconf.Clients, st *store.Store, log *slog.Logger) *finalize.Handler {
	return finalize.NewStep(c.S3, st, log)
}

// NewRecords wires the create-records step.
func NewRecords(c *awsconf.Clients, st *store.Store, box *secrets.Box, r Resources, log *slog.Logger) *records.Handler {
	return records.NewStep(st, c.S3, box, r.JobsBucket, log)
}

// NewProvisioning wires the write-provisioning step.
func NewProvisioning(c *awsconf.Clients, st *store.Store, box *secrets.Box, r Resources, log *slog.Logger) (*provision.Step, error) {
	return provision.NewStep(c.S3, st, box, r.ProvisioningBucket, log)
}

// NewWelcome wires the send-welcome handler; the CLI's send-welcome uses it too.
func NewWelcome(c *awsconf.Clients, st *store.Store, box *secrets.Box, log *slog.Logger) *welcome.Handler {
	return welcome.NewStep(c.S3, st, box, c.SES, log)
}

// LambdaLogger is lambdaenv.Logger.
func LambdaLogger(getenv func(string) string) *slog.Logger { return lambdaenv.Logger(getenv) }

// Clients builds the SDK clients a function uses, honouring endpoint
// overrides from the environment (AWS_ENDPOINT_URL_*).
func Clients(ctx context.Context) (*awsconf.Clients, error) {
	return awsconf.New(ctx, awsconf.EndpointsFromEnv())
}
