package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

const aslFile = "infra/statemachine/bulkprov.asl.json"

// localARNs are the substitutions bulkprov run uses; the same keys CDK fills.
func localARNs() map[string]string {
	arn := func(fn string) string { return "arn:aws:lambda:us-east-1:000000000000:function:" + fn }
	return map[string]string{
		"CreateRecordsFunctionArn":     arn("create-records"),
		"WriteProvisioningFunctionArn": arn("write-provisioning"),
		"SendWelcomeFunctionArn":       arn("send-welcome"),
		"FinalizeFunctionArn":          arn("finalize"),
	}
}

func readASL(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), aslFile))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestASLFileIsValidStatesLanguage(t *testing.T) {
	root := repoRoot(t)
	validator := filepath.Join(root, "node_modules", ".bin", "asl-validator")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): install Node 20 and run `npm ci` in %s", err, root)
	}
	if _, err := os.Stat(validator); err != nil {
		t.Fatalf("asl-validator missing (%v): run `npm ci` in %s", err, root)
	}
	// Validate both the file as CDK uploads it and with the ARNs substituted,
	// so that the ARN checks see real Lambda ARNs.
	raw := readASL(t)
	substituted := raw
	for k, v := range localARNs() {
		substituted = []byte(strings.ReplaceAll(string(substituted), "${"+k+"}", v))
	}
	subPath := filepath.Join(t.TempDir(), "substituted.asl.json")
	if err := os.WriteFile(subPath, substituted, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(root, aslFile), subPath} {
		out, err := exec.Command(validator, "--json-path", path).CombinedOutput()
		if err != nil {
			t.Errorf("asl-validator %s: %v\n%s", path, err, out)
		}
	}
}

func TestASLFilePlaceholdersAreExactlyTheFunctionARNs(t *testing.T) {
	found := placeholder.FindAllStringSubmatch(string(readASL(t)), -1)
	var keys []string
	for _, m := range found {
		if !slices.Contains(keys, m[1]) {
			keys = append(keys, m[1])
		}
	}
	slices.Sort(keys)
	want := []string{"CreateRecordsFunctionArn", "FinalizeFunctionArn", "SendWelcomeFunctionArn", "WriteProvisioningFunctionArn"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("placeholders = %v, want %v", keys, want)
	}
}

// pipeline is a set of recording fake handlers for the project's workflow.
type pipeline struct {
	s3 *s3.Client
	// failBatch makes create-records fail for the batch starting at this line
	// (always); panicOnce makes it panic on the first call for that batch.
	failBatch, panicOnce int

	mu       sync.Mutex
	records  []events.RecordsBatch
	prov     []events.BatchResult
	welcome  []events.WelcomeInput
	finalize []events.FinalizeInput
	panicked bool
}

type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

func (p *pipeline) handlers() map[string]Handler {
	arn := localARNs()
	return map[string]Handler{
		arn["CreateRecordsFunctionArn"]: Typed(func(ctx context.Context, in events.RecordsBatch) (events.BatchResult, error) {
			first := in.Items[0].Line
			p.mu.Lock()
			p.records = append(p.records, in)
			doPanic := first == p.panicOnce && !p.panicked
			p.panicked = p.panicked || doPanic
			p.mu.Unlock()
			if doPanic {
				panic("simulated crash")
			}
			if first == p.failBatch {
				return events.BatchResult{}, &failure{"simulated outage"}
			}
			batch := jobfiles.BatchID(first)
			res := events.BatchResult{Tenant: in.BatchInput.Tenant, Job: in.BatchInput.Job, Batch: batch, JobsBucket: in.BatchInput.JobsBucket,
				ResultKey: in.BatchInput.ResultsKey + batch + ".json"}
			for _, row := range in.Items {
				res.Rows = append(res.Rows, events.RowResult{Line: row.Line, Extension: row.Extension, Status: events.StatusCreated})
			}
			body, _ := json.Marshal(res)
			if _, err := p.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(res.JobsBucket), Key: aws.String(res.ResultKey), Body: strings.NewReader(string(body))}); err != nil {
				return events.BatchResult{}, fmt.Errorf("write results: %w", err)
			}
			return res, nil
		}),
		arn["WriteProvisioningFunctionArn"]: Typed(func(_ context.Context, in events.BatchResult) (events.BatchResult, error) {
			p.mu.Lock()
			p.prov = append(p.prov, in)
			p.mu.Unlock()
			in.Rows = nil
			return in, nil
		}),
		arn["SendWelcomeFunctionArn"]: Typed(func(_ context.Context, in events.WelcomeInput) (map[string]int, error) {
			p.mu.Lock()
			p.welcome = append(p.welcome, in)
			p.mu.Unlock()
			return map[string]int{"sent": 1}, nil
		}),
		arn["FinalizeFunctionArn"]: Typed(func(_ context.Context, in events.FinalizeInput) (events.FinalizeOutput, error) {
			p.mu.Lock()
			p.finalize = append(p.finalize, in)
			p.mu.Unlock()
			status := "DONE"
			if in.Phase1Error != nil || in.Phase2Error != nil {
				status = "PARTIAL"
			}
			return events.FinalizeOutput{Tenant: in.Tenant, Job: in.Job, Status: status, ReportKey: jobfiles.ReportKey(in.Tenant, in.Job)}, nil
		}),
	}
}

// The job TestProjectWorkflow runs: 7 rows (lines 2-8) in batches of 3.
const (
	wfBucket, wfTenant, wfJob = "bulkprov-jobs", "acme", "j0001"
	wfRows, wfBatchSize       = 7, 3
)

// workflowCase is one run of the project's workflow with recording handlers.
type workflowCase struct {
	name      string
	welcome   string
	tolerated int
	failBatch int
	panicOnce int
	want      workflowWant
}

type workflowWant struct {
	recordCalls  map[int]int // first line → calls
	welcomeKeys  []string
	phase1Error  string
	retrySleeps  int
	finalOutcome string
	// stopped: the Map stops early, so other batches may or may not run.
	stopped bool
}

// workflowRun is what one run recorded: the handlers' inputs, the retry
// sleeps and the engine's events.
type workflowRun struct {
	p      *pipeline
	sleeps *sleeps
	out    json.RawMessage

	evMu   sync.Mutex
	taskOK map[string]int   // state → TaskSucceeded events
	mapEnd map[string]Event // Map state → its MapSucceeded or MapFailed event
}

func TestProjectWorkflow(t *testing.T) {
	resultsKey := jobfiles.ResultsPrefix(wfTenant, wfJob)
	allKeys := []string{resultsKey + "b0000002.json", resultsKey + "b0000005.json", resultsKey + "b0000008.json"}
	tests := []workflowCase{
		{name: "three batches, emails", welcome: "invite",
			want: workflowWant{recordCalls: map[int]int{2: 1, 5: 1, 8: 1}, welcomeKeys: allKeys, finalOutcome: "DONE"}},
		{name: "welcome none skips phase 2", welcome: "none",
			want: workflowWant{recordCalls: map[int]int{2: 1, 5: 1, 8: 1}, finalOutcome: "DONE"}},
		{name: "a crash is retried", welcome: "invite", panicOnce: 5,
			want: workflowWant{recordCalls: map[int]int{2: 1, 5: 2, 8: 1}, welcomeKeys: allKeys, retrySleeps: 1, finalOutcome: "DONE"}},
		{name: "a failing batch within tolerance", welcome: "password", tolerated: 50, failBatch: 5,
			want: workflowWant{recordCalls: map[int]int{2: 1, 5: 3, 8: 1}, welcomeKeys: []string{allKeys[0], allKeys[2]}, retrySleeps: 2, finalOutcome: "DONE"}},
		{name: "a failing batch beyond tolerance", welcome: "invite", tolerated: 10, failBatch: 5,
			want: workflowWant{recordCalls: map[int]int{5: 3}, phase1Error: ErrExceedToleratedFails, retrySleeps: 2, finalOutcome: "PARTIAL", stopped: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runProjectWorkflow(t, tt)
			var final events.FinalizeOutput
			if err := json.Unmarshal(r.out, &final); err != nil || final.Status != tt.want.finalOutcome || final.Job != wfJob {
				t.Errorf("output = %s (%v), want finalize's output with status %s", r.out, err, tt.want.finalOutcome)
			}
			okBatches := checkRecordBatches(t, tt, r.p)
			checkWelcomeInputs(t, tt, r.p)
			checkFinalizeInput(t, tt, r.p)
			checkRetrySleeps(t, tt, r.sleeps)
			if end := r.mapEnd["CreateUsers"]; end.Total != wfRows || !tt.want.stopped && end.Succeeded+end.Failed != wfRows ||
				tt.failBatch != 0 && end.Failed != wfBatchSize || tt.failBatch == 0 && end.Type != EventMapSucceeded {
				t.Errorf("CreateUsers end event = %+v, want counts in rows (7 total, 3 failed when a batch fails)", end)
			}
			if r.taskOK["Finalize"] != 1 || !tt.want.stopped && r.taskOK["CreateRecords"] != okBatches {
				t.Errorf("TaskSucceeded events = %v", r.taskOK)
			}
		})
	}
}

// runProjectWorkflow puts the job's rows.jsonl in S3 and runs the project's
// ASL file on it to the end.
func runProjectWorkflow(t *testing.T, tt workflowCase) *workflowRun {
	t.Helper()
	client := newS3(t, wfBucket)
	var rows strings.Builder
	for i := range wfRows {
		b, _ := json.Marshal(pbx.UserRow{Line: i + 2, Extension: fmt.Sprint(100 + i), FirstName: "User", Email: fmt.Sprintf("u%d@acme.example", i)})
		rows.Write(append(b, '\n'))
	}
	rowsKey := jobfiles.RowsKey(wfTenant, wfJob)
	putObject(t, client, wfBucket, rowsKey, []byte(rows.String()))

	r := &workflowRun{
		p:      &pipeline{s3: client, failBatch: tt.failBatch, panicOnce: tt.panicOnce},
		sleeps: &sleeps{},
		taskOK: map[string]int{},
		mapEnd: map[string]Event{},
	}
	engine, err := Load(readASL(t), Options{Substitutions: localARNs(), Tasks: r.p.handlers(), S3: client, Sleep: r.sleeps.sleep,
		OnEvent: r.record})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	input, _ := json.Marshal(events.JobInput{Tenant: wfTenant, Job: wfJob, JobsBucket: wfBucket, RowsKey: rowsKey,
		ResultsKey: jobfiles.ResultsPrefix(wfTenant, wfJob), Welcome: tt.welcome, Rows: wfRows, BatchSize: wfBatchSize,
		RecordsConcurrency: 2, WelcomeConcurrency: 2, ToleratedFailurePercentage: tt.tolerated})
	if r.out, err = engine.Run(context.Background(), wfJob, input); err != nil {
		t.Fatalf("execution failed: %v", err)
	}
	return r
}

func (r *workflowRun) record(ev Event) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if ev.Type == EventTaskSucceeded {
		r.taskOK[ev.State]++
	}
	if ev.Type == EventMapSucceeded || ev.Type == EventMapFailed {
		r.mapEnd[ev.State] = ev
	}
}

// checkRecordBatches checks create-records' batches (context, size, rows
// in order, calls per batch) and that write-provisioning got each batch
// that succeeded; it returns how many did.
func checkRecordBatches(t *testing.T, tt workflowCase, p *pipeline) (okBatches int) {
	t.Helper()
	batchCtx := events.BatchContext{Tenant: wfTenant, Job: wfJob, JobsBucket: wfBucket, ResultsKey: jobfiles.ResultsPrefix(wfTenant, wfJob)}
	calls := map[int]int{}
	for _, b := range p.records {
		calls[b.Items[0].Line]++
		if b.BatchInput != batchCtx {
			t.Errorf("BatchInput = %+v, want %+v", b.BatchInput, batchCtx)
		}
		wantLen := min(wfBatchSize, wfRows+2-b.Items[0].Line)
		if len(b.Items) != wantLen {
			t.Errorf("batch at line %d has %d items, want %d", b.Items[0].Line, len(b.Items), wantLen)
		}
		for i, row := range b.Items {
			if row.Line != b.Items[0].Line+i || row.Extension != fmt.Sprint(98+row.Line) {
				t.Errorf("batch at line %d item %d = %+v, rows out of order", b.Items[0].Line, i, row)
			}
		}
	}
	if tt.want.stopped {
		for line, n := range calls {
			if line != tt.failBatch && n > 1 {
				t.Errorf("batch %d ran %d times", line, n)
			}
		}
		calls = map[int]int{tt.failBatch: calls[tt.failBatch]}
	}
	if !reflect.DeepEqual(calls, tt.want.recordCalls) {
		t.Errorf("create-records calls per batch = %v, want %v", calls, tt.want.recordCalls)
	}
	for line, n := range tt.want.recordCalls {
		if line != tt.failBatch && n > 0 {
			okBatches++
		}
	}
	if tt.want.stopped {
		okBatches = len(p.prov) // not determined: the Map stopped while they ran
	}
	if len(p.prov) != okBatches {
		t.Errorf("write-provisioning called %d times, want %d", len(p.prov), okBatches)
	}
	for _, pr := range p.prov {
		if len(pr.Rows) == 0 || pr.ResultKey == "" {
			t.Errorf("write-provisioning got %+v, want create-records' BatchResult with rows", pr)
		}
	}
	return okBatches
}

func checkWelcomeInputs(t *testing.T, tt workflowCase, p *pipeline) {
	t.Helper()
	var keys []string
	for _, w := range p.welcome {
		keys = append(keys, w.Key)
		if w.Tenant != wfTenant || w.Job != wfJob || w.JobsBucket != wfBucket || w.Concurrency != 2 {
			t.Errorf("send-welcome input = %+v", w)
		}
	}
	slices.Sort(keys)
	if !slices.Equal(keys, tt.want.welcomeKeys) {
		t.Errorf("send-welcome keys = %v, want %v", keys, tt.want.welcomeKeys)
	}
}

func checkFinalizeInput(t *testing.T, tt workflowCase, p *pipeline) {
	t.Helper()
	if len(p.finalize) != 1 {
		t.Fatalf("finalize called %d times, want 1", len(p.finalize))
	}
	fin := p.finalize[0]
	if fin.Tenant != wfTenant || fin.Job != wfJob || fin.JobsBucket != wfBucket || fin.Phase2Error != nil {
		t.Errorf("finalize input = %+v", fin)
	}
	switch {
	case tt.want.phase1Error == "" && fin.Phase1Error != nil:
		t.Errorf("finalize phase1_error = %+v, want none", fin.Phase1Error)
	case tt.want.phase1Error != "" && (fin.Phase1Error == nil || fin.Phase1Error.Error != tt.want.phase1Error || fin.Phase1Error.Cause == ""):
		t.Errorf("finalize phase1_error = %+v, want %s with a cause", fin.Phase1Error, tt.want.phase1Error)
	}
}

func checkRetrySleeps(t *testing.T, tt workflowCase, sl *sleeps) {
	t.Helper()
	if got := len(sl.delays()); got != tt.want.retrySleeps {
		t.Errorf("retry sleeps = %d (%v), want %d", got, sl.delays(), tt.want.retrySleeps)
	}
	for _, d := range sl.delays() {
		if d < 0 || d > 10*time.Second {
			t.Errorf("retry delay %v outside the full-jitter bound", d)
		}
	}
}

func TestLoadProjectFileRejectsMissingSubstitution(t *testing.T) {
	subs := localARNs()
	delete(subs, "FinalizeFunctionArn")
	_, err := Load(readASL(t), Options{Substitutions: subs, Tasks: (&pipeline{}).handlers(), S3: newS3(t, "bkt")})
	if err == nil || !strings.Contains(err.Error(), "${FinalizeFunctionArn}") {
		t.Fatalf("Load error = %v, want one naming ${FinalizeFunctionArn}", err)
	}
}

func TestLoadProjectFileRejectsMissingHandler(t *testing.T) {
	tasks := (&pipeline{}).handlers()
	delete(tasks, localARNs()["SendWelcomeFunctionArn"])
	_, err := Load(readASL(t), Options{Substitutions: localARNs(), Tasks: tasks, S3: newS3(t, "bkt")})
	if err == nil || !strings.Contains(err.Error(), `"SendWelcome"`) || !strings.Contains(err.Error(), "send-welcome") {
		t.Fatalf("Load error = %v, want one naming state SendWelcome and its resource", err)
	}
}

func TestProjectWorkflowRejectsBadBatchSize(t *testing.T) {
	const bucket = "bulkprov-jobs"
	client := newS3(t, bucket)
	putObject(t, client, bucket, "rows.jsonl", []byte(`{"line":2,"extension":"100"}`+"\n"))
	p := &pipeline{s3: client}
	engine, err := Load(readASL(t), Options{Substitutions: localARNs(), Tasks: p.handlers(), S3: client})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	input, _ := json.Marshal(events.JobInput{Tenant: "acme", Job: "j", JobsBucket: bucket, RowsKey: "rows.jsonl", ResultsKey: "results/", Welcome: "none", BatchSize: 0})
	_, err = engine.Run(context.Background(), "bad", input)
	var xe *ExecutionError
	if !errors.As(err, &xe) || xe.Name != ErrRuntime || !strings.Contains(xe.Cause, "MaxItemsPerBatchPath") {
		t.Fatalf("err = %v, want States.Runtime naming MaxItemsPerBatchPath (uncatchable, so finalize does not run)", err)
	}
	if len(p.finalize) != 0 {
		t.Errorf("finalize ran after a States.Runtime error")
	}
}
