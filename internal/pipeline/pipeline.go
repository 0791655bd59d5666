// Package pipeline builds bulkprov's step handlers from a set of AWS clients
// and resource names. The Lambda functions' main.go files and the local run
// both use it, so what runs locally is wired exactly as what is deployed.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// Resources names what the handlers work on.
type Resources struct {
	Table              string
	UploadsBucket      string
	JobsBucket         string
	ProvisioningBucket string
	KMSKeyID           string
	StateMachineARN    string
	ProvisioningURL    string // the URL phones are given; bootstrap files point at it
	// WelcomeConcurrency is phase 2's MaxConcurrency (each child takes that
	// share of the SES send rate); 0: ingest's default.
	WelcomeConcurrency int
}

// ResourcesFromEnv reads the names the CDK stack sets on each function.
func ResourcesFromEnv(getenv func(string) string) Resources {
	return Resources{
		Table:              getenv("TABLE_NAME"),
		UploadsBucket:      getenv("UPLOADS_BUCKET"),
		JobsBucket:         getenv("JOBS_BUCKET"),
		ProvisioningBucket: getenv("PROVISIONING_BUCKET"),
		KMSKeyID:           getenv("KMS_KEY_ID"),
		StateMachineARN:    getenv("STATE_MACHINE_ARN"),
		ProvisioningURL:    getenv("PROVISIONING_URL"),
	}
}

// Require reports the first of the named resources that is empty, so a
// function fails at start-up rather than on its first event.
func (r Resources) Require(names ...string) error {
	values := map[string]string{
		"TABLE_NAME": r.Table, "UPLOADS_BUCKET": r.UploadsBucket, "JOBS_BUCKET": r.JobsBucket,
		"PROVISIONING_BUCKET": r.ProvisioningBucket, "KMS_KEY_ID": r.KMSKeyID, "STATE_MACHINE_ARN": r.StateMachineARN,
		"PROVISIONING_URL": r.ProvisioningURL,
	}
	for _, n := range names {
		v, known := values[n]
		if !known {
			return fmt.Errorf("pipeline: unknown resource %s", n)
		}
		if v == "" {
			return fmt.Errorf("%s must be set", n)
		}
	}
	return nil
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
// ends without a workflow. With a KMS key it seals the secrets an upload
// imports (import-secrets); without one they are left out.
func NewIngest(c *awsconf.Clients, st *store.Store, fin *finalize.Handler, r Resources, log *slog.Logger) *ingest.Handler {
	var seal ingest.Sealers
	if r.KMSKeyID != "" {
		seal = secrets.NewBox(c.KMS, r.KMSKeyID)
	}
	return ingest.NewHandler(ingest.Config{
		Secrets:            seal,
		JobsBucket:         r.JobsBucket,
		StateMachineARN:    r.StateMachineARN,
		WelcomeConcurrency: r.WelcomeConcurrency,
		KnownPhoneModel:    provision.KnownModel,
		Finalize: func(ctx context.Context, in events.FinalizeInput) error {
			_, err := fin.Handle(ctx, in)
			return err
		},
		Logger: log,
	}, c.S3, st, c.SFN)
}

// NewFinalize wires the finalize step.
func NewFinalize(c *awsconf.Clients, st *store.Store, log *slog.Logger) *finalize.Handler {
	return &finalize.Handler{S3: c.S3, Jobs: st, Logger: log}
}

// NewRecords wires the create-records step.
func NewRecords(c *awsconf.Clients, st *store.Store, box *secrets.Box, r Resources, log *slog.Logger) *records.Handler {
	return &records.Handler{
		Store: st, S3: c.S3, Secrets: box, Jobs: records.StoreJobs(st), Log: log, JobsBucket: r.JobsBucket,
	}
}

// NewProvisioning wires the write-provisioning step.
func NewProvisioning(c *awsconf.Clients, st *store.Store, box *secrets.Box, r Resources, log *slog.Logger) (*provision.Step, error) {
	renderer, err := provision.NewRenderer()
	if err != nil {
		return nil, fmt.Errorf("provisioning templates: %w", err)
	}
	return &provision.Step{
		S3: c.S3, Settings: st, Credentials: st, Secrets: box, Renderer: renderer,
		ProvisioningBucket: r.ProvisioningBucket, BaseURL: r.ProvisioningURL, Logger: log,
	}, nil
}

// NewWelcome wires the send-welcome handler; the CLI's send-welcome uses it too.
func NewWelcome(c *awsconf.Clients, st *store.Store, box *secrets.Box, log *slog.Logger) *welcome.Handler {
	return &welcome.Handler{
		S3: c.S3, Store: st, Secrets: box, SES: c.SES,
		Settings: welcome.StoreSettings(st, JobOptions(st)),
		Logger:   log,
	}
}

// JobOptions reads a job's upload options from its job item.
func JobOptions(st *store.Store) welcome.JobOptionsFunc {
	return func(ctx context.Context, tenant, job string) (pbx.Options, error) {
		j, err := st.GetJob(ctx, tenant, job)
		if err != nil {
			return pbx.Options{}, err
		}
		return j.Options, nil
	}
}

// LambdaLogger is the JSON logger every function uses; its level follows
// AWS_LAMBDA_LOG_LEVEL (set by Lambda's ApplicationLogLevel), INFO otherwise.
func LambdaLogger(getenv func(string) string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(getenv("AWS_LAMBDA_LOG_LEVEL"))); err != nil {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: level}))
}

// Clients builds the SDK clients a function uses, honouring endpoint
// overrides from the environment (AWS_ENDPOINT_URL_*).
func Clients(ctx context.Context) (*awsconf.Clients, error) {
	return awsconf.New(ctx, awsconf.EndpointsFromEnv())
}
