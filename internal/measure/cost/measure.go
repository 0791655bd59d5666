package cost

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/infra/statemachine"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// FunctionMemoryMiB is each function's memory size as infra/stack.go sets
// it (a test reads the stack's source to keep the two equal).
func FunctionMemoryMiB() map[string]int {
	return map[string]int{
		"ingest": 1024, "create-records": 512, "write-provisioning": 512,
		"send-welcome": 256, "finalize": 512, "portal-api": 256,
	}
}

// functionName maps the state machine's substitution keys to functions.
func functionName(key string) string {
	switch key {
	case statemachine.CreateRecordsFunctionArn:
		return "create-records"
	case statemachine.WriteProvisioningFunctionArn:
		return "write-provisioning"
	case statemachine.SendWelcomeFunctionArn:
		return "send-welcome"
	case statemachine.FinalizeFunctionArn:
		return "finalize"
	}
	return key
}

// phase1Map is the state machine's phase 1 Map (records and phone files).
const phase1Map = "CreateUsers"

// MeasureConfig says what to run.
type MeasureConfig struct {
	Rows   int
	Tenant string // default "costbench"
	// Dir holds the generated CSV and the outbox; "" uses a temporary
	// folder removed at the end.
	Dir    string
	Logger *slog.Logger
	// SESMaxSendRate, when > 0, is the send rate the local SES reports
	// (default 14/s, a new production account's). Send-welcome paces itself
	// to it, so it sets that function's duration and the run's length.
	SESMaxSendRate float64
	// BeforeUpload runs on the started pipeline before the upload (a
	// baseline measured on the same stack, for example).
	BeforeUpload func(ctx context.Context, p *localrun.Pipeline) error
	// AfterJob runs on the pipeline after the job ended, outside the
	// measured time (a ceiling measured on the job's own items, for example).
	AfterJob func(ctx context.Context, p *localrun.Pipeline, job jobmodel.Job) error
}

// Measure starts the local pipeline, uploads cfg.Rows generated rows with
// create-dids, waits for the job to end and returns what it consumed: every
// SDK call (the engine's S3 item reads included), modelled DynamoDB units,
// the parent execution's state transitions and the child executions from
// the engine's events, and each handler's time. The job must succeed with
// every row created.
func Measure(ctx context.Context, cfg MeasureConfig) (Usage, error) {
	us, err := measureJobs(ctx, cfg, []int{cfg.Rows})
	if err != nil {
		return Usage{}, err
	}
	return us[0], nil
}

// MeasureFit measures two uploads on one local pipeline, of cfg.Rows/2 and
// cfg.Rows generated rows (cfg.Rows ≥ 2), and returns the usage of one
// upload of rows rows on the line through them (Extrapolate): a job's fixed
// part counted once instead of scaled with the rows.
func MeasureFit(ctx context.Context, cfg MeasureConfig, rows int) (Usage, error) {
	if cfg.Rows < 2 {
		return Usage{}, fmt.Errorf("measure: a fit needs at least 2 rows, not %d", cfg.Rows)
	}
	us, err := measureJobs(ctx, cfg, []int{cfg.Rows / 2, cfg.Rows})
	if err != nil {
		return Usage{}, err
	}
	return Extrapolate(us[0], us[1], rows), nil
}

// measureJobs starts the local pipeline and uploads one generated file per
// size, one after the other (their rows do not overlap), returning each
// upload's usage.
func measureJobs(ctx context.Context, cfg MeasureConfig, sizes []int) (_ []Usage, err error) {
	total := 0
	for _, n := range sizes {
		if n <= 0 {
			return nil, fmt.Errorf("measure: rows must be positive, not %d", n)
		}
		total += n
	}
	if cfg.Tenant == "" {
		cfg.Tenant = "costbench"
	}
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "bulkprov-cost-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	def, err := parseDefinition(statemachine.Definition())
	if err != nil {
		return nil, err
	}
	m := &measurement{counter: &callstats.Counter{}, meter: &Meter{}, def: def}
	p, err := m.startPipeline(ctx, cfg, total)
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	defer func() {
		if cerr := p.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("measure: stop local pipeline: %w", cerr)
		}
	}()
	if cfg.BeforeUpload != nil {
		if err := cfg.BeforeUpload(ctx, p); err != nil {
			return nil, fmt.Errorf("measure: before upload: %w", err)
		}
	}
	var out []Usage
	first := 0
	for _, n := range sizes {
		u, err := m.measureJob(ctx, p, cfg, first, n)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
		first += n
	}
	return out, nil
}

// measureJob uploads rows first..first+n-1 and returns what their job used.
func (m *measurement) measureJob(ctx context.Context, p *localrun.Pipeline, cfg MeasureConfig, first, n int) (Usage, error) {
	csvPath := filepath.Join(cfg.Dir, fmt.Sprintf("users-%d-%d.csv", first, n))
	if err := writeRowsFile(csvPath, first, n); err != nil {
		return Usage{}, err
	}
	m.reset()
	calls0, meter0 := m.counter.Snapshot(), m.meter.Snapshot()
	job, elapsed, err := runJob(ctx, p, csvPath, n)
	if err != nil {
		return Usage{}, err
	}
	calls := m.counter.Snapshot().Sub(calls0)
	metered := m.meter.Snapshot().Sub(meter0)
	if cfg.AfterJob != nil {
		if err := cfg.AfterJob(ctx, p, job); err != nil {
			return Usage{}, fmt.Errorf("measure: after job: %w", err)
		}
	}
	u := newUsage(first, n, calls, metered, m.phase1().Sub(meter0), metered.S3Puts[p.Stack.ProvisioningBucket])
	u.Elapsed = elapsed
	m.tr.fill(&u)
	return u, nil
}

// measurement is one Measure's instruments: the SDK call counter, the
// DynamoDB unit meter, the tracker of the engine's events and handler
// times, and the meter's snapshot when the current job's phase 1 Map ended.
type measurement struct {
	counter *callstats.Counter
	meter   *Meter
	def     definition
	tr      *tracker

	mu          sync.Mutex
	phase1Taken bool
	phase1Snap  Metered
}

// reset starts a new job's tracking (the previous job has ended).
func (m *measurement) reset() {
	m.tr.reset()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.phase1Taken, m.phase1Snap = false, Metered{}
}

// phase1 is the meter when the current job's phase 1 ended.
func (m *measurement) phase1() Metered {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase1Snap
}

// onEvent feeds the tracker and takes the meter's snapshot when phase 1 ends.
func (m *measurement) onEvent(ev stepfn.Event) {
	m.tr.event(ev)
	if (ev.Type == stepfn.EventMapSucceeded || ev.Type == stepfn.EventMapFailed) && ev.State == phase1Map {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.phase1Taken {
			m.phase1Taken, m.phase1Snap = true, m.meter.Snapshot()
		}
	}
}

// startPipeline starts the local pipeline with m's instruments on every
// SDK client and every step, ingest included; the operator's inventory
// holds the DIDs of the first rows generated rows.
func (m *measurement) startPipeline(ctx context.Context, cfg MeasureConfig, rows int) (*localrun.Pipeline, error) {
	m.tr = newTracker(m.def)
	p, err := localrun.Start(ctx, localrun.Config{
		Tenant: cfg.Tenant, OutboxDir: filepath.Join(cfg.Dir, "outbox"), Logger: cfg.Logger,
		DIDs:       DIDs(0, rows),
		APIOptions: []func(*middleware.Stack) error{m.counter.Middleware(), m.meter.Middleware()},
		OnEvent:    m.onEvent,
		Wrap:       m.tr.wrap,
	})
	if err != nil {
		return nil, err
	}
	// Time ingest like the other functions: the stack calls it on upload.
	ingest := p.Handlers.Ingest.Handle
	p.Stack.SetUploadHandler(func(ctx context.Context, ev events.S3Event) error {
		start := time.Now()
		err := ingest(ctx, ev)
		m.tr.record("ingest", time.Since(start))
		return err
	})
	if cfg.SESMaxSendRate > 0 {
		p.Stack.SES().SetMaxSendRate(cfg.SESMaxSendRate)
	}
	return p, nil
}

// runJob uploads the CSV with create-dids and waits for its job, which must
// end DONE with every row created; elapsed is the time from the upload to
// the job's end.
func runJob(ctx context.Context, p *localrun.Pipeline, csvPath string, rows int) (_ jobmodel.Job, elapsed time.Duration, _ error) {
	start := time.Now()
	key, err := p.UploadFile(ctx, csvPath, map[string]string{pbx.MetaCreateDIDs: "true"})
	if err != nil {
		return jobmodel.Job{}, 0, fmt.Errorf("measure: %w", err)
	}
	jobs, err := p.JobsFor(ctx, key)
	if err != nil {
		return jobmodel.Job{}, 0, fmt.Errorf("measure: %w", err)
	}
	elapsed = time.Since(start)
	if len(jobs) != 1 {
		return jobmodel.Job{}, 0, fmt.Errorf("measure: upload %s made %d jobs, want 1 (delivery errors: %v)", key, len(jobs), p.Stack.DeliveryErrors())
	}
	if j := jobs[0]; j.Status != jobmodel.Done || j.Counts.Created != rows {
		return jobmodel.Job{}, 0, fmt.Errorf("measure: job %s ended %s with %d of %d rows created (%s)", j.ID, j.Status, j.Counts.Created, rows, j.Error)
	}
	return jobs[0], elapsed, nil
}

// newUsage is the job's usage from its calls and metered units; phase1 is
// what the meter counted until phase 1 ended. The tracker fills in the
// transitions, child executions and functions.
func newUsage(first, rows int, calls callstats.Stats, metered, phase1 Metered, provisioningFiles int) Usage {
	return Usage{
		Rows:                       rows,
		Calls:                      calls.Calls,
		DynamoDBWriteUnits:         metered.WriteUnits,
		DynamoDBTransactWriteUnits: metered.TransactWriteUnits,
		DynamoDBReadUnits:          metered.ReadUnits,
		ObjectsWritten:             metered.TransactPutItems,
		DynamoDBTransactPutUnits:   metered.TransactPutUnits,
		ItemWrites:                 metered.ItemWrites,
		Phase1WriteUnits:           phase1.WriteUnits,
		PBXObjects:                 6*rows + 3*GeneratedDIDs(first, rows) + provisioningFiles,
		ProvisioningFiles:          provisioningFiles,
		Emails:                     calls.Calls["SESv2.SendEmail"] - calls.Errors["SESv2.SendEmail"],
	}
}

func writeRowsFile(path string, first, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteRows(f, first, n); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// definition is what the tracker needs from the ASL file: the top-level
// states by type, and which task keys run inside each Map's children.
type definition struct {
	topTasks, topMaps map[string]bool
	// unobserved: top-level Pass, Choice and Succeed states; the engine
	// emits no events for them.
	unobserved int
	// mapKeys: Map state → substitution keys of its child tasks.
	mapKeys map[string][]string
	// mapType: Map state → its children's ExecutionType; childTask: a
	// child Task state → its Map.
	mapType   map[string]string
	childTask map[string]string
}

type aslState struct {
	Type          string
	Resource      string
	ItemProcessor *struct {
		ProcessorConfig struct{ ExecutionType string }
		States          map[string]aslState
	}
}

func parseDefinition(raw []byte) (definition, error) {
	var doc struct{ States map[string]aslState }
	if err := json.Unmarshal(raw, &doc); err != nil {
		return definition{}, fmt.Errorf("parse state machine: %w", err)
	}
	d := definition{topTasks: map[string]bool{}, topMaps: map[string]bool{}, mapKeys: map[string][]string{},
		mapType: map[string]string{}, childTask: map[string]string{}}
	for name, st := range doc.States {
		switch st.Type {
		case "Task":
			d.topTasks[name] = true
		case "Map":
			d.topMaps[name] = true
			if st.ItemProcessor != nil {
				d.mapType[name] = st.ItemProcessor.ProcessorConfig.ExecutionType
				for childName, child := range st.ItemProcessor.States {
					if child.Type == "Task" {
						d.mapKeys[name] = append(d.mapKeys[name], placeholderKey(child.Resource))
						d.childTask[childName] = name
					}
				}
			}
		case "Pass", "Choice", "Succeed", "Fail", "Wait":
			d.unobserved++
		}
	}
	return d, nil
}

// placeholderKey turns "${Key}" into "Key".
func placeholderKey(resource string) string {
	if len(resource) > 3 && resource[:2] == "${" && resource[len(resource)-1] == '}' {
		return resource[2 : len(resource)-1]
	}
	return resource
}

// tracker counts transitions and child executions from the engine's
// events and times the handlers.
type tracker struct {
	def definition

	mu               sync.Mutex
	transitions      int
	childTransitions map[string]int // by Map
	iterations       map[string]int
	durations        map[string]time.Duration // by function name
	invocations      map[string]int
}

func newTracker(def definition) *tracker {
	return &tracker{def: def, iterations: map[string]int{}, childTransitions: map[string]int{}, durations: map[string]time.Duration{}, invocations: map[string]int{}}
}

// event counts the parent execution's transitions: each top-level Task
// entered (and each retry), each top-level Map entered, and the Pass,
// Choice and Succeed states, which emit no events (counted once per
// execution: all are on every path of the project's machine).
func (t *tracker) event(ev stepfn.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Type {
	case stepfn.EventExecutionStarted:
		t.transitions += t.def.unobserved
	case stepfn.EventTaskSucceeded, stepfn.EventTaskFailed, stepfn.EventTaskRetrying:
		if t.def.topTasks[ev.State] {
			t.transitions++
		}
		if m, ok := t.def.childTask[ev.State]; ok {
			t.childTransitions[m]++ // each attempt is a state entered
		}
	case stepfn.EventMapStarted:
		if t.def.topMaps[ev.State] {
			t.transitions++
		}
	case stepfn.EventMapIterationDone, stepfn.EventMapIterationFailed:
		if t.def.topMaps[ev.State] {
			t.iterations[ev.State]++
		}
	}
}

func (t *tracker) wrap(key string, h stepfn.Handler) stepfn.Handler {
	return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		start := time.Now()
		out, err := h(ctx, in)
		t.record(key, time.Since(start))
		return out, err
	}
}

// reset forgets what was tracked so far (a new job starts).
func (t *tracker) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.transitions = 0
	clear(t.childTransitions)
	clear(t.iterations)
	clear(t.durations)
	clear(t.invocations)
}

func (t *tracker) record(key string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.durations[key] += d
	t.invocations[key]++
}

func (t *tracker) fill(u *Usage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u.StandardTransitions = t.transitions
	memory := FunctionMemoryMiB()
	for key, n := range t.invocations {
		name := functionName(key)
		u.Functions = append(u.Functions, FunctionUsage{
			Name: name, MemoryMiB: memory[name], Invocations: n, Duration: t.durations[key], Rows: u.Rows,
		})
	}
	sort.Slice(u.Functions, func(i, j int) bool { return u.Functions[i].Name < u.Functions[j].Name })
	for m, n := range t.iterations {
		var d time.Duration
		for _, key := range t.def.mapKeys[m] {
			d += t.durations[key]
		}
		u.Express = append(u.Express, ExpressUsage{Map: m, Type: t.def.mapType[m], Executions: n, Duration: d, Transitions: t.childTransitions[m]})
	}
	sort.Slice(u.Express, func(i, j int) bool { return u.Express[i].Map < u.Express[j].Map })
}
