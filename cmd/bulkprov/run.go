package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/measure/cost"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/tenants"
)

const runUsage = `usage: bulkprov run --tenant T --out DIR [flags] FILE [FILE...]

Starts the embedded AWS stack (S3, DynamoDB Local, SES, KMS, the local Step
Functions engine), seeds tenant T (device provisioning on, a default phone
model, invite-mode welcome emails), uploads each FILE in order into
tenants/T/ and lets the S3 event drive the pipeline to the end. Writes:

  DIR/jobs/<job>/report.csv      one line per CSV data row with its final status
  DIR/jobs/<job>/summary.json    counts, status, duration
  DIR/provisioning/...           the provisioning bucket (phone config files)
  DIR/outbox/*.eml               every welcome email SES accepted
  DIR/records.jsonl              every DynamoDB item at the end
  DIR/bulkprov.log               JSON logs (job, tenant, row)

--settings FILE lays a JSON object of tenant settings (any subset of the
fields "bulkprov tenant show" prints) over the local defaults; it is checked
like a saved setting (unknown fields, email template variables).

Each FILE may be our template or another PBX's user export (FreePBX, 3CX,
Wazo, Kazoo, FusionPBX, FS PBX, Issabel, Switchvox, Vodia, Yeastar); a
companion file (FreePBX DIDs, FusionPBX devices) after the users file
attaches to the users just created.

Exit status: 0 every job finished with no failed row, 1 otherwise,
2 usage error or an unusable file (no header, no data rows, ...).

flags:
`

// runRun implements `bulkprov run`: check the flags and files, start the
// local stack, run each file through the pipeline, write the output folder
// and print the summary.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code, ok := parseRunFlags(args, stderr)
	if !ok {
		return code
	}
	logFile, err := createRunLog(opts.outDir)
	if err != nil {
		return runUsageError(stderr, "%v", err)
	}
	defer logFile.Close()
	logger := slog.New(slog.NewJSONHandler(logFile, nil))

	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	s := newRunSession(logger, stdout)
	fmt.Fprintln(stdout, "starting the embedded stack (S3, DynamoDB Local, SES, KMS, Step Functions)…")
	started := time.Now()
	if err := s.start(ctx, opts); err != nil {
		fmt.Fprintln(stderr, "bulkprov run:", err)
		return exitFailed
	}
	defer s.close()
	stackTook := time.Since(started)
	fmt.Fprintf(stdout, "stack ready in %.1fs\n", stackTook.Seconds())

	results, code := s.runFiles(ctx, opts, stderr)
	if !s.writeOutputFolder(ctx, opts.outDir, stderr) {
		code = exitFailed
	}
	took := time.Since(started)
	printRunSummary(stdout, opts.outDir, results, opts.stats, took)
	fmt.Fprintf(stdout, "time: stack %.1fs, jobs %.1fs, output folder %.1fs (%.1f%% of the run)\n", stackTook.Seconds(),
		(took - stackTook - s.exportTook).Seconds(), s.exportTook.Seconds(), 100*s.exportTook.Seconds()/took.Seconds())
	return code
}

// runOptions are the checked flags and files of `bulkprov run`.
type runOptions struct {
	tenant, outDir, stateDir string
	stats                    bool
	timeout                  time.Duration
	meta                     map[string]string // upload options given as flags
	files                    []string
	tenantOverrides          []byte // --settings FILE, checked
}

// runUsageError reports a usage error of `bulkprov run`.
func runUsageError(stderr io.Writer, format string, a ...any) int {
	fmt.Fprintf(stderr, "bulkprov run: "+format+"\n", a...)
	return exitUsage
}

// parseRunFlags reads and checks the flags, the files and --settings before
// anything starts. ok is false when the command should exit now with code.
func parseRunFlags(args []string, stderr io.Writer) (opts runOptions, code int, ok bool) {
	fs := newFlagSet("run", runUsage, stderr)
	tenant := fs.String("tenant", "", "tenant name (required)")
	outDir := fs.String("out", "", "output `DIR` (required)")
	stateDir := fs.String("state", "", "keep the local stack's data in `DIR` between runs")
	stats := fs.Bool("stats", false, "print AWS API calls and DynamoDB capacity per job")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after this long")
	settingsFile := fs.String("settings", "", "tenant settings overrides (JSON `FILE`) laid over the local defaults")
	meta := map[string]string{}
	addUploadOptionFlags(fs, meta)
	files, help, err := parseInterspersed(fs, args)
	switch {
	case help:
		return opts, exitOK, false
	case err != nil:
		return opts, exitUsage, false
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		return opts, runUsageError(stderr, "--tenant: %s", pbx.ErrorMessage(err)), false
	}
	if *outDir == "" {
		return opts, runUsageError(stderr, "--out DIR is required"), false
	}
	if len(files) == 0 {
		return opts, runUsageError(stderr, "at least one FILE is required"), false
	}
	if _, err := pbx.ParseUploadOptions(meta); err != nil {
		return opts, runUsageError(stderr, "%s", pbx.ErrorMessage(err)), false
	}
	for _, f := range files {
		if err := readable(f); err != nil {
			return opts, runUsageError(stderr, "%v", err), false
		}
	}
	overrides, err := readRunSettings(*tenant, *settingsFile)
	if err != nil {
		return opts, runUsageError(stderr, "%v", err), false
	}
	return runOptions{tenant: *tenant, outDir: *outDir, stateDir: *stateDir, stats: *stats, timeout: *timeout,
		meta: meta, files: files, tenantOverrides: overrides}, exitOK, true
}

// readRunSettings reads --settings FILE (nil without one) and checks it laid
// over the local tenant's defaults, as a saved setting is checked.
func readRunSettings(tenant, file string) ([]byte, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--settings: %w", err)
	}
	combined, err := pbx.CombineOverrides(pbx.LocalTenantOverrides(tenant), b)
	if err == nil {
		_, err = tenants.Check(combined)
	}
	if err != nil {
		return nil, fmt.Errorf("--settings %s: %s", file, err)
	}
	return b, nil
}

// createRunLog creates the output folder and its bulkprov.log.
func createRunLog(outDir string) (*os.File, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %w", err)
	}
	f, err := os.Create(filepath.Join(outDir, "bulkprov.log"))
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// runSession is the local stack of one `bulkprov run` and what it counts
// while the files run.
type runSession struct {
	p       *localrun.Pipeline
	logger  *slog.Logger
	counter *callstats.Counter
	meter   *cost.Meter
	tasks   *taskCounter
	prog    *progress
	// exportTook is the time spent writing the output folder.
	exportTook time.Duration
}

func newRunSession(logger *slog.Logger, stdout io.Writer) *runSession {
	return &runSession{logger: logger, counter: &callstats.Counter{}, meter: &cost.Meter{}, tasks: &taskCounter{},
		prog: newProgress(stdout)}
}

// start starts the embedded stack and seeds the tenant.
func (s *runSession) start(ctx context.Context, opts runOptions) error {
	p, err := localrun.Start(ctx, localrun.Config{
		Tenant: opts.tenant, StateDir: opts.stateDir, OutboxDir: filepath.Join(opts.outDir, "outbox"), Logger: s.logger,
		APIOptions:      []func(*middleware.Stack) error{s.counter.Middleware(), s.meter.Middleware()},
		OnEvent:         func(ev stepfn.Event) { s.prog.event(ev); s.tasks.event(ev) },
		TenantOverrides: opts.tenantOverrides,
	})
	if err != nil {
		return err
	}
	s.p = p
	return nil
}

// close stops the stack; an error is only logged, the run's outputs are
// already written.
func (s *runSession) close() {
	if err := s.p.Close(); err != nil {
		s.logger.Error("stop local stack", "error", err)
	}
}

// runFiles uploads each file in order and waits for its jobs, and returns
// the results and the exit code so far: exitFailed when a file made no job
// or a job did not succeed, exitUsage when a file itself is unusable.
func (s *runSession) runFiles(ctx context.Context, opts runOptions, stderr io.Writer) ([]runResult, int) {
	var results []runResult
	code := exitOK
	for _, file := range opts.files {
		before, meterBefore, tasksBefore := s.counter.Snapshot(), s.meter.Snapshot(), s.tasks.snapshot()
		res, err := runOne(ctx, s.p, file, opts.meta, opts.outDir, &s.exportTook)
		if err != nil {
			fmt.Fprintf(stderr, "bulkprov run: %s: %v\n", file, err)
			code = exitFailed
			continue
		}
		res.stats = s.counter.Snapshot().Sub(before)
		res.metered = s.meter.Snapshot().Sub(meterBefore)
		res.invocations = s.tasks.since(tasksBefore)
		results = append(results, res)
		for _, j := range res.jobs {
			if !jobSucceeded(j) && code == exitOK {
				code = exitFailed
			}
			if fe := fileError(opts.outDir, j); fe != "" {
				// The file itself is unusable (no rows, no header, ...), as
				// `bulkprov validate` reports with exit 2.
				fmt.Fprintf(stderr, "bulkprov run: %s: %s\n", file, fe)
				code = exitUsage
			}
		}
		if len(res.jobs) == 0 {
			code = exitFailed
		}
	}
	return results, code
}

// writeOutputFolder exports the provisioning bucket and the tenant's
// records into outDir; false when either failed (reported on stderr).
func (s *runSession) writeOutputFolder(ctx context.Context, outDir string, stderr io.Writer) bool {
	ok := true
	exportStart := time.Now()
	if err := s.p.ExportProvisioning(ctx, outDir); err != nil {
		fmt.Fprintln(stderr, "bulkprov run: export provisioning files:", err)
		ok = false
	}
	s.logger.Info("exported provisioning files", "seconds", time.Since(exportStart).Seconds())
	recordsStart := time.Now()
	if err := s.p.ExportRecords(ctx, filepath.Join(outDir, "records.jsonl")); err != nil {
		fmt.Fprintln(stderr, "bulkprov run: export records:", err)
		ok = false
	}
	s.logger.Info("exported records", "seconds", time.Since(recordsStart).Seconds())
	s.exportTook += time.Since(exportStart)
	return ok
}

type runResult struct {
	file        string
	key         string
	jobs        []jobmodel.Job
	stats       callstats.Stats
	metered     cost.Metered
	invocations map[string]int // Lambda invocations by state, from the engine
}

// taskCounter counts task invocations (Lambda requests in AWS) by state.
type taskCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *taskCounter) event(ev stepfn.Event) {
	if ev.Type != stepfn.EventTaskSucceeded && ev.Type != stepfn.EventTaskFailed && ev.Type != stepfn.EventTaskRetrying {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[ev.State]++
}

func (c *taskCounter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

func (c *taskCounter) since(before map[string]int) map[string]int {
	out := c.snapshot()
	for k, v := range before {
		out[k] -= v
	}
	return out
}

// runOne uploads one file and waits for its jobs to end.
func runOne(ctx context.Context, p *localrun.Pipeline, file string, meta map[string]string, outDir string, exportTook *time.Duration) (runResult, error) {
	key, err := p.UploadFile(ctx, file, meta)
	if err != nil {
		return runResult{}, err
	}
	jobs, err := p.JobsFor(ctx, key)
	if err != nil {
		return runResult{}, err
	}
	if len(jobs) == 0 {
		errs := p.Stack.DeliveryErrors()
		if len(errs) > 0 {
			return runResult{}, fmt.Errorf("ingest made no job: %w", errs[len(errs)-1])
		}
		return runResult{}, fmt.Errorf("ingest made no job for s3://%s/%s (see bulkprov.log)", p.Stack.UploadsBucket, key)
	}
	start := time.Now()
	for _, j := range jobs {
		if err := p.ExportJob(ctx, outDir, j.ID); err != nil {
			return runResult{}, err
		}
	}
	*exportTook += time.Since(start)
	return runResult{file: file, key: key, jobs: jobs}, nil
}

// fileError returns the file-level error of a rejected job, from its
// exported validation.json ("code: message"), or "".
func fileError(outDir string, j jobmodel.Job) string {
	if j.Status != jobmodel.Rejected {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(outDir, "jobs", j.ID, "validation.json"))
	if err != nil {
		return ""
	}
	var v struct {
		FileError *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"file_error"`
	}
	if json.Unmarshal(b, &v) != nil || v.FileError == nil {
		return ""
	}
	return v.FileError.Code + ": " + v.FileError.Message
}

// jobSucceeded: the job finished and no row failed or was invalid.
func jobSucceeded(j jobmodel.Job) bool {
	switch j.Status {
	case jobmodel.Done:
		return true
	case jobmodel.DryRun:
		return j.Counts.Invalid == 0 && j.Counts.Failed == 0
	}
	return false
}

func printRunSummary(w io.Writer, outDir string, results []runResult, withStats bool, took time.Duration) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tJOB\tSTATUS\tROWS\tCREATED\tUPDATED\tSKIPPED\tINVALID\tFAILED\tPHONES\tEMAILS")
	for _, r := range results {
		for _, j := range r.jobs {
			c := j.Counts
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", filepath.Base(r.file), j.ID, j.Status,
				c.Rows, c.Created, c.Updated, c.Skipped, c.Invalid, c.Failed, c.Provisioned, c.EmailsSent)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\noutput in %s (reports: %s, phones: %s, emails: %s, table: %s) — %.1fs\n", outDir,
		filepath.Join(outDir, "jobs", "<job>", "report.csv"), filepath.Join(outDir, "provisioning"),
		filepath.Join(outDir, "outbox"), filepath.Join(outDir, "records.jsonl"), took.Seconds())
	if withStats {
		for _, r := range results {
			ids := make([]string, len(r.jobs))
			for i, j := range r.jobs {
				ids[i] = j.ID
			}
			fmt.Fprintf(w, "\nAWS calls for %s (job %s):\n%s", filepath.Base(r.file), strings.Join(ids, ", "), r.stats.Table())
			rows := 0
			for _, j := range r.jobs {
				rows += j.Counts.Rows
			}
			m := r.metered
			fmt.Fprintf(w, "DynamoDB request units as AWS bills them (modelled from item sizes; DynamoDB Local reports a flat figure): %.1f write, %.1f read", m.WriteUnits, m.ReadUnits)
			if rows > 0 {
				fmt.Fprintf(w, " (%.2f write units and %.2f item writes per row)", m.WriteUnits/float64(rows), float64(m.ItemWrites)/float64(rows))
			}
			fmt.Fprintln(w)
			states := make([]string, 0, len(r.invocations))
			for s := range r.invocations {
				states = append(states, s)
			}
			sort.Strings(states)
			fmt.Fprint(w, "Lambda invocations by step:")
			for _, s := range states {
				fmt.Fprintf(w, " %s=%d", s, r.invocations[s])
			}
			fmt.Fprintln(w, " (plus one ingest per S3 event)")
		}
	}
}

// readable checks that a file can be opened for reading before anything starts.
func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
}
