// Package pipeline builds bulkprov's step handlers from a set of AWS clients
// and resource names, for the local run and the CLI. It calls the same
// constructors (NewStep) as the Lambda functions' main.go files, which wire
// only their own step through lambdaenv, so what runs locally is wired as
// what is deployed.
package pipeline

import (
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
// ends without a workflow. With a KMS key it seals the secrets an upload
// imports (import-secrets); without one they are left out.
func NewIngest(c *awsconf.Clients, st *store.Store, fin *finalize.Handler, r Resources, log *slog.Logger) *ingest.Handler {
	var seal ingest.Sealers
	if r.KMSKeyID != "" {
		seal = secrets.NewBox(c.KMS, r.KMSKeyID)
	}
	return ingest.NewStep(c.S3, st, c.SFN, fin, seal, r.JobsBucket, r.StateMachineARN, r.WelcomeConcurrency, log)
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
	return provision.NewStep(c.S3, st, box, r.ProvisioningBucket, r.ProvisioningURL, log)
}

// NewWelcome wires the send-welcome handler; the CLI's send-welcome uses it too.
func NewWelcome(c *awsconf.Clients, st *store.Store, box *secrets.Box, log *slog.Logger) *welcome.Handler {
	return welcome.NewStep(c.S3, st, box, c.SES, log)
}
