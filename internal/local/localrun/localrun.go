// Package localrun runs the whole pipeline on one machine: the embedded AWS
// stack, the step handlers wired as in Lambda, and the local Step Functions
// engine executing the deployed ASL file. An upload into the tenant's prefix
// drives everything through the S3 event, as in AWS.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/infra/statemachine"
	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/pipeline"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/tenants"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// Config says which tenant to seed and where to keep state.
type Config struct {
	Tenant string
	// StateDir keeps the stack's data between runs; "" starts empty.
	StateDir string
	// OutboxDir receives the SES messages of this run; "" lets the stack choose.
	OutboxDir string
	Logger    *slog.Logger
	// APIOptions are added to every SDK client (e.g. call accounting).
	APIOptions []func(*middleware.Stack) error
	// OnEvent receives the engine's progress events.
	OnEvent func(stepfn.Event)
	// Sleep replaces the engine's retry sleeps (tests); nil sleeps for real.
	Sleep func(ctx context.Context, d time.Duration) error
	// Wrap, when set, wraps each task handler by its substitution key
	// (fault injection in tests).
	Wrap func(key string, h stepfn.Handler) stepfn.Handler
	// SESMaxSendRate is the local SES account's send quota (messages/s);
	// 0 means DefaultSESMaxSendRate. The workflow paces emails to it.
	SESMaxSendRate float64
	// Definition replaces the deployed ASL file (tests of other designs);
	// nil runs statemachine.Definition().
	Definition []byte
	// AllowLongExpressChildren loads a Definition whose EXPRESS children
	// can outlive 5 minutes (stepfn.Options.AllowLongExpressChildren).
	AllowLongExpressChildren bool
	// TimeScale runs the workflow's timing (Task timeouts, retry delays, the
	// EXPRESS limit, send-welcome's deadline margin) faster: 0.05 makes
	// 300 s last 15 s. Give SESMaxSendRate scaled the same way. 0 means 1.
	TimeScale float64
	// WelcomeConcurrency is phase 2's concurrency; 0: ingest's default.
	WelcomeConcurrency int
	// RealTimeStates: stepfn.Options.RealTimeStates.
	RealTimeStates []string
	// TenantOverrides are laid over pbx.LocalTenantOverrides(Tenant) when
	// the tenant is seeded (e.g. `bulkprov run --settings FILE`).
	TenantOverrides []byte
	// DIDs are put in the operator's free inventory when the tenant is
	// seeded, and the tenant may take free numbers with create-dids; nil
	// means LocalTestDIDs (issue #17: DIDs come from the operator).
	DIDs []string
}

// LocalTestDIDRange is the test range every seeded local tenant may take
// numbers from (the example uploads use it).
var LocalTestDIDRange = [2]string{"+14155550100", "+14155550199"}

// DefaultSESMaxSendRate is the local SES account's quota: an account out of
// the SES sandbox with a raised rate, so that a local run of thousands of
// rows is not paced like a new account (14/s) while still being paced.
const DefaultSESMaxSendRate = 1000

// DefaultSESMax24HourSend is the local account's 24-hour quota: more than a
// few 100k-row runs.
const DefaultSESMax24HourSend = 10_000_000

// Pipeline is a running local pipeline.
type Pipeline struct {
	Tenant   string
	Stack    *devstack.Stack
	Store    *store.Store
	Engine   *stepfn.Engine
	Handlers *pipeline.Handlers

	sfnServer *http.Server
	sfnDone   chan struct{}

	mu         sync.Mutex
	jobsBefore map[string]map[string]bool // upload key → job ids that existed before it
}

// Task ARNs the substitutions resolve to locally.
func taskARN(name string) string {
	return "arn:aws:lambda:us-east-1:000000000000:function:bulkprov-" + name
}

// Start starts the stack, seeds the tenant, loads the state machine and
// connects ingest to the uploads bucket. Close stops everything.
func Start(ctx context.Context, cfg Config) (_ *Pipeline, err error) {
	if err := pbx.ValidateTenantName(cfg.Tenant); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stack, err := devstack.Start(ctx, devstack.Config{
		StateDir: cfg.StateDir, OutboxDir: cfg.OutboxDir, Logger: log, APIOptions: cfg.APIOptions,
	})
	if err != nil {
		return nil, fmt.Errorf("start local stack: %w", err)
	}
	p := &Pipeline{Tenant: cfg.Tenant, Stack: stack, Store: store.New(stack.Clients.DynamoDB, stack.Table)}
	rate := cfg.SESMaxSendRate
	if rate <= 0 {
		rate = DefaultSESMaxSendRate
	}
	stack.SES().SetMaxSendRate(rate)
	stack.SES().SetMax24HourSend(DefaultSESMax24HourSend)
	defer func() {
		if err != nil {
			_ = p.Close()
		}
	}()
	if err := p.seed(ctx, cfg); err != nil {
		return nil, err
	}

	if err := p.serveEngine(ctx, cfg, log); err != nil {
		return nil, err
	}
	stack.SetUploadHandler(p.Handlers.Ingest.Handle)
	return p, nil
}

// serveEngine builds the step handlers, loads the state machine and serves
// the engine to the real sfn client on loopback, so ingest starts
// executions exactly as it does in AWS.
func (p *Pipeline) serveEngine(ctx context.Context, cfg Config, log *slog.Logger) error {
	stack := p.Stack
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the local Step Functions endpoint: %w", err)
	}
	endpoints := stack.Endpoints
	endpoints.SFN = "http://" + ln.Addr().String()
	clients, err := awsconf.New(ctx, endpoints, func(c *aws.Config) {
		c.APIOptions = append(c.APIOptions, cfg.APIOptions...)
	})
	if err != nil {
		ln.Close()
		return err
	}
	res := pipeline.Resources{
		Table: stack.Table, UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket,
		ProvisioningBucket: stack.ProvisioningBucket, KMSKeyID: stack.KMSKeyID,
		ProvisioningURL:    LocalProvisioningURL,
		WelcomeConcurrency: cfg.WelcomeConcurrency,
	}
	engine, handlers, err := p.loadEngine(clients, res, log, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	p.Engine, p.Handlers = engine, handlers
	p.sfnServer = &http.Server{Handler: stepfn.NewServer(engine), ReadHeaderTimeout: 10 * time.Second}
	p.sfnDone = make(chan struct{})
	go func() {
		defer close(p.sfnDone)
		if err := p.sfnServer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("local Step Functions endpoint stopped", "error", err)
		}
	}()
	return nil
}

// loadEngine builds the step handlers and loads the state machine with its
// task substitutions resolved to them.
func (p *Pipeline) loadEngine(c *awsconf.Clients, res pipeline.Resources, log *slog.Logger, cfg Config) (*stepfn.Engine, *pipeline.Handlers, error) {
	// Ingest needs the state machine's ARN, which the engine names; build
	// the handlers once with the ARN the engine will report.
	const smARN = "arn:aws:states:us-east-1:000000000000:stateMachine:bulkprov"
	res.StateMachineARN = smARN
	h, err := pipeline.Build(c, res, log)
	if err != nil {
		return nil, nil, err
	}
	tasks := map[string]stepfn.Handler{}
	subs := map[string]string{}
	for key, handler := range map[string]stepfn.Handler{
		statemachine.CreateRecordsFunctionArn:     stepfn.Typed(h.Records.Handle),
		statemachine.WriteProvisioningFunctionArn: stepfn.Typed(h.Provisioning.Handle),
		statemachine.SendWelcomeFunctionArn:       stepfn.Typed(h.Welcome.Handle),
		statemachine.FinalizeFunctionArn:          stepfn.Typed(h.Finalize.Handle),
	} {
		arn := taskARN(key)
		subs[key] = arn
		if cfg.Wrap != nil {
			handler = cfg.Wrap(key, handler)
		}
		tasks[arn] = handler
	}
	def := cfg.Definition
	if def == nil {
		def = statemachine.Definition()
	}
	if cfg.TimeScale > 0 {
		h.Welcome.DeadlineMargin = time.Duration(float64(welcome.DefaultDeadlineMargin) * cfg.TimeScale)
	}
	engine, err := stepfn.Load(def, stepfn.Options{
		Substitutions: subs, Tasks: tasks, S3: c.S3, Logger: log,
		OnEvent: cfg.OnEvent, Sleep: cfg.Sleep, StateMachineARN: smARN,
		TimeScale: cfg.TimeScale, RealTimeStates: cfg.RealTimeStates, AllowLongExpressChildren: cfg.AllowLongExpressChildren,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load state machine: %w", err)
	}
	return engine, h, nil
}

// LocalProvisioningURL is where `bulkprov serve-provisioning` listens by
// default; the local run's bootstrap files point phones there.
const LocalProvisioningURL = "http://127.0.0.1:8088"

// seed stores the tenant with the local settings and a provisioning
// credential. A kept state keeps the tenant it has (settings saved with
// `bulkprov tenant set` stay) unless new overrides are given.
func (p *Pipeline) seed(ctx context.Context, cfg Config) error {
	_, err := p.Store.LoadSettings(ctx, cfg.Tenant)
	exists := err == nil
	if err != nil && pbx.ErrorCode(err) != pbx.ENOTFOUND {
		return fmt.Errorf("seed tenant %s: %w", cfg.Tenant, err)
	}
	if !exists || cfg.TenantOverrides != nil {
		overrides, err := pbx.CombineOverrides(pbx.LocalTenantOverrides(cfg.Tenant), cfg.TenantOverrides)
		if err != nil {
			return fmt.Errorf("tenant %s settings: %w", cfg.Tenant, err)
		}
		if err := tenants.Save(ctx, p.Store, pbx.Tenant{Name: cfg.Tenant, DisplayName: cfg.Tenant}, overrides); err != nil {
			return fmt.Errorf("seed tenant %s: %w", cfg.Tenant, err)
		}
	}
	return p.seedDIDs(ctx, cfg)
}

// seedDIDs puts cfg.DIDs (or the local test range) in the free inventory,
// keeping numbers already there, and lets the tenant take free numbers.
func (p *Pipeline) seedDIDs(ctx context.Context, cfg Config) error {
	dids := cfg.DIDs
	if dids == nil {
		var err error
		if dids, err = store.ExpandDIDRange(LocalTestDIDRange[0], LocalTestDIDRange[1]); err != nil {
			return err
		}
	}
	if _, _, err := p.Store.AddDIDs(ctx, dids, ""); err != nil {
		return fmt.Errorf("seed DID inventory: %w", err)
	}
	policy, err := p.Store.GetDIDPolicy(ctx, cfg.Tenant)
	if err != nil {
		return fmt.Errorf("seed DID policy: %w", err)
	}
	policy.ClaimFree = true
	if err := p.Store.SetDIDPolicy(ctx, cfg.Tenant, policy); err != nil {
		return fmt.Errorf("seed DID policy: %w", err)
	}
	return nil
}

// Close stops the engine, the endpoint and the stack.
func (p *Pipeline) Close() error {
	var errs []error
	if p.Engine != nil {
		errs = append(errs, p.Engine.Close())
	}
	if p.sfnServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, p.sfnServer.Shutdown(ctx))
		cancel()
		<-p.sfnDone
	}
	if p.Stack != nil {
		errs = append(errs, p.Stack.Close())
	}
	return errors.Join(errs...)
}
