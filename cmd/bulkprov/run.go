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

// runRun implements `bulkprov run`.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
		return exitOK
	case err != nil:
		return exitUsage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bulkprov run: "+format+"\n", a...)
		return exitUsage
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		return fail("--tenant: %s", pbx.ErrorMessage(err))
	}
	if *outDir == "" {
		return fail("--out DIR is required")
	}
	if len(files) == 0 {
		return fail("at least one FILE is required")
	}
	if _, err := pbx.ParseUploadOptions(meta); err != nil {
		return fail("%s", pbx.ErrorMessage(err))
	}
	for _, f := range files {
		if err := readable(f); err != nil {
			return fail("%v", err)
		}
	}
	var tenantOverrides []byte
	if *settingsFile != "" {
		b, err := os.ReadFile(*settingsFile)
		if err != nil {
			return fail("--settings: %v", err)
		}
		combined, err := pbx.CombineOverrides(pbx.LocalTenantOverrides(*tenant), b)
		if err == nil {
			_, err = tenants.Check(combined)
		}
		if err != nil {
			return fail("--settings %s: %s", *settingsFile, err)
		}
		tenantOverrides = b
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return fail("--out: %v", err)
	}
	logFile, err := os.Create(filepath.Join(*outDir, "bulkprov.log"))
	if err != nil {
		return fail("log file: %v", err)
	}
	defer logFile.Close()
	logger := slog.New(slog.NewJSONHandler(logFile, nil))

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	counter := &callstats.Counter{}
	meter := &cost.Meter{}
	tasks := &taskCounter{}
	prog := newProgress(stdout)
	fmt.Fprintln(stdout, "starting the embedded stack (S3, DynamoDB Local, SES, KMS, Step Functions)…")
	started := time.Now()
	p, err := localrun.Start(ctx, localrun.Config{
		Tenant: *tenant, StateDir: *stateDir, OutboxDir: filepath.Join(*outDir, "outbox"), Logger: logger,
		APIOptions:      []func(*middleware.Stack) error{counter.Middleware(), meter.Middleware()},
		OnEvent:         func(ev stepfn.Event) { prog.event(ev); tasks.event(ev) },
		TenantOverrides: tenantOverrides,
	})
	if err != nil {
		fmt.Fprintln(stderr, "bulkprov run:", err)
		return exitFailed
	}
	defer func() {
		if err := p.Close(); err != nil {
			logger.Error("stop local stack", "error", err)
		}
	}()
	stackTook := time.Since(started)
	fmt.Fprintf(stdout, "stack ready in %.1fs\n", stackTook.Seconds())
	var exportTook time.Duration // writing the output folder

	var results []runResult
	code := exitOK
	for _, file := range files {
		before, meterBefore, tasksBefore := counter.Snapshot(), meter.Snapshot(), tasks.snapshot()
		res, err := runOne(ctx, p, file, meta, *outDir, &exportTook)
		if err != nil {
			fmt.Fprintf(stderr, "bulkprov run: %s: %v\n", file, err)
			code = exitFailed
			continue
		}
		res.stats = counter.Snapshot().Sub(before)
		res.metered = meter.Snapshot().Sub(meterBefore)
		res.invocations = tasks.since(tasksBefore)
		results = append(results, res)
		for _, j := range res.jobs {
			if !jobSucceeded(j) && code == exitOK {
				code = exitFailed
			}
			if fe := fileError(*outDir, j); fe != "" {
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
	exportStart := time.Now()
	if err := p.ExportProvisioning(ctx, *outDir); err != nil {
		fmt.Fprintln(stderr, "bulkprov run: export provisioning files:", err)
		code = exitFailed
	}
	logger.Info("exported provisioning files", "seconds", time.Since(exportStart).Seconds())
	recordsStart := time.Now()
	if err := p.ExportRecords(ctx, filepath.Join(*outDir, "records.jsonl")); err != nil {
		fmt.Fprintln(stderr, "bulkprov run: export records:", err)
		code = exitFailed
	}
	logger.Info("exported records", "seconds", time.Since(recordsStart).Seconds())
	exportTook += time.Since(exportStart)
	took := time.Since(started)
	printRunSummary(stdout, *outDir, results, *stats, took)
	fmt.Fprintf(stdout, "time: stack %.1fs, jobs %.1fs, output folder %.1fs (%.1f%% of the run)\n", stackTook.Seconds(),
		(took - stackTook - exportTook).Seconds(), exportTook.Seconds(), 100*exportTook.Seconds()/took.Seconds())
	return code
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
