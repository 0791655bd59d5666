package ingest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	steps "github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
)

// Objects is the S3 API the handler uses; *s3.Client satisfies it.
type Objects interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Jobs is the store API the handler uses; *store.Store satisfies it.
type Jobs interface {
	TenantLookup
	LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error)
	CreateJob(ctx context.Context, job jobmodel.Job) (created bool, existing jobmodel.Job, err error)
	UpdateJobStatus(ctx context.Context, tenant, id, status string, counts steps.Counts, errMsg string) error
}

// Executions starts the workflow; *sfn.Client satisfies it.
type Executions interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// Config configures the ingest Lambda. Zero knobs take the defaults.
type Config struct {
	JobsBucket      string
	StateMachineARN string
	// Map knobs passed to the workflow in events.JobInput.
	RecordsConcurrency         int // default 4
	WelcomeConcurrency         int // default 2
	ToleratedFailurePercentage int // default 10
	// KnownPhoneModel validates phone_model cells (see Input).
	KnownPhoneModel func(string) bool
	// Finalize, when set, writes the job's report.csv and summary.json when
	// ingest ends the job itself (rejected, dry run, held, nothing to do), so
	// every job has the same final files whether or not a workflow ran.
	Finalize func(ctx context.Context, in steps.FinalizeInput) error
	// Secrets seals the SIP secrets and PINs an upload imports
	// (import-secrets); nil leaves them out (new ones are generated).
	Secrets Sealers
	// TempDir holds the spooled output files; "" means os.TempDir().
	TempDir string
	Logger  *slog.Logger
}

// Handler handles S3 ObjectCreated events for uploaded CSV files.
type Handler struct {
	cfg     Config
	objects Objects
	jobs    Jobs
	execs   Executions
	log     *slog.Logger
}

// NewHandler returns a Handler; objects, jobs and execs are normally an
// *s3.Client, a *store.Store and an *sfn.Client.
func NewHandler(cfg Config, objects Objects, jobs Jobs, execs Executions) *Handler {
	if cfg.RecordsConcurrency <= 0 {
		cfg.RecordsConcurrency = 4
	}
	if cfg.WelcomeConcurrency <= 0 {
		cfg.WelcomeConcurrency = 2
	}
	if cfg.ToleratedFailurePercentage <= 0 {
		cfg.ToleratedFailurePercentage = 10
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, objects: objects, jobs: jobs, execs: execs, log: log}
}

// Handle processes each record of the event. Problems with an upload are
// recorded on its job (or, for a bad key or unknown tenant, only logged)
// and are not errors: Lambda would retry them forever. The returned error
// is for transient failures, which a retry can fix.
func (h *Handler) Handle(ctx context.Context, ev events.S3Event) error {
	var errs []error
	for _, rec := range ev.Records {
		if err := h.handleRecord(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// JobID derives the job id from the upload's identity, so a repeated
// event for the same object version finds the same job and execution.
func JobID(bucket, key, versionID, etag, sequencer string) string {
	id := versionID
	if id == "" {
		id = strings.Trim(etag, `"`) + "\n" + sequencer
	}
	sum := sha256.Sum256([]byte(bucket + "\n" + key + "\n" + id))
	return "j" + hex.EncodeToString(sum[:])[:20]
}

// TenantFromKey returns the tenant of an (already URL-decoded) upload key
// tenants/<tenant>/<name>.csv, rejecting anything that is not plainly such
// a key: other prefixes, "..", "//", backslashes, control characters.
func TenantFromKey(key string) (string, error) {
	bad := func(why string) error {
		return pbx.Errorf(pbx.CodeBadKey, "key", "upload key %q %s", pbx.Clip(key), why)
	}
	const prefix = "tenants/"
	switch {
	case !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", bad("contains control characters or invalid UTF-8")
	case !strings.HasPrefix(key, prefix):
		return "", bad("is outside " + prefix)
	case strings.Contains(key, "//"), strings.Contains(key, `\`):
		return "", bad(`contains "//" or a backslash`)
	}
	tenant, name, ok := strings.Cut(key[len(prefix):], "/")
	if !ok || name == "" {
		return "", bad("has no file name after the tenant")
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "." || seg == ".." {
			return "", bad("contains a . or .. segment")
		}
	}
	if !strings.HasSuffix(strings.ToLower(name), ".csv") {
		return "", bad("is not a .csv file")
	}
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return "", pbx.Errorf(pbx.CodeBadTenant, "key", "upload key %q: %s", pbx.Clip(key), pbx.ErrorMessage(err))
	}
	return tenant, nil
}

// handleRecord ingests one uploaded object: its job is created once, and
// an earlier attempt that died midway is redone.
func (h *Handler) handleRecord(ctx context.Context, rec events.S3EventRecord) error {
	bucket := rec.S3.Bucket.Name
	key, tenant, err := h.uploadTenant(ctx, rec)
	if err != nil || tenant == "" {
		return err
	}
	upload := jobmodel.Upload{Bucket: bucket, Key: key, VersionID: rec.S3.Object.VersionID, ETag: rec.S3.Object.ETag}
	jobID := JobID(bucket, key, upload.VersionID, upload.ETag, rec.S3.Object.Sequencer)
	log := h.log.With("job", jobID, "tenant", tenant)

	get := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if upload.VersionID != "" {
		get.VersionId = aws.String(upload.VersionID)
	}
	obj, err := h.objects.GetObject(ctx, get)
	var noKey *s3types.NoSuchKey
	switch {
	case errors.As(err, &noKey):
		log.WarnContext(ctx, "upload gone before ingest read it", "key", pbx.Clip(key))
		return nil
	case err != nil:
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()

	settings, optErr, err := h.uploadSettings(ctx, tenant, obj.Metadata)
	if err != nil {
		return err
	}
	created, existing, err := h.jobs.CreateJob(ctx, jobmodel.Job{
		Tenant: tenant, ID: jobID, Status: jobmodel.Validating, Upload: upload, Options: settings.Upload,
		RowsKey: jobfiles.RowsKey(tenant, jobID), ValidationKey: jobfiles.ValidationJSONKey(tenant, jobID),
		CreatedAt: time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("create job %s: %w", jobID, err)
	}
	if !created && existing.Status != jobmodel.Validating {
		log.InfoContext(ctx, "duplicate event: job already exists", "status", existing.Status)
		return nil
	}
	// A job still VALIDATING is an earlier attempt that died midway: redo
	// it; every write below is idempotent and the execution name is fixed.

	j := &jobRun{h: h, log: log, tenant: tenant, id: jobID, settings: settings}
	defer j.cleanup()
	switch {
	case optErr != nil:
		return j.reject(ctx, FileFailure(tenant, optErr))
	case obj.ContentLength != nil && *obj.ContentLength > settings.MaxObjectBytes:
		return j.reject(ctx, FileFailure(tenant, pbx.Errorf(pbx.CodeFileTooLarge, "",
			"the file is %d bytes, more than the limit of %d; split it into smaller files", *obj.ContentLength, settings.MaxObjectBytes)))
	}
	return j.run(ctx, obj.Body)
}

// uploadTenant returns the event's decoded key and its tenant, taken from
// the key only. A key that is not a known tenant's upload is logged and
// dropped: tenant is "" and err nil (a retry would not change it).
func (h *Handler) uploadTenant(ctx context.Context, rec events.S3EventRecord) (key, tenant string, err error) {
	bucket := rec.S3.Bucket.Name
	// S3 URL-encodes event keys, spaces as '+'.
	key, err = url.QueryUnescape(rec.S3.Object.Key)
	if err != nil {
		h.log.WarnContext(ctx, "upload rejected: undecodable key", "bucket", bucket, "key", pbx.Clip(rec.S3.Object.Key))
		return "", "", nil
	}
	tenant, err = TenantFromKey(key)
	if err != nil {
		h.log.WarnContext(ctx, "upload rejected", "bucket", bucket, "key", pbx.Clip(key), "code", pbx.ErrorCode(err), "reason", pbx.ErrorMessage(err))
		return "", "", nil
	}
	if _, err := h.jobs.LoadSettings(ctx, tenant); err != nil {
		if code := pbx.ErrorCode(err); code == pbx.ENOTFOUND || code == pbx.EINVALID {
			h.log.WarnContext(ctx, "upload rejected: unknown tenant", "bucket", bucket, "key", pbx.Clip(key), "tenant", tenant)
			return "", "", nil
		}
		return "", "", fmt.Errorf("load settings of tenant %s: %w", tenant, err)
	}
	return key, tenant, nil
}

// uploadSettings returns the job's settings: the tenant's with the
// upload's options (object metadata) laid over them. Options that are
// invalid, alone or with the tenant's settings, are optErr (the file is
// rejected) and the tenant's settings are returned alone.
func (h *Handler) uploadSettings(ctx context.Context, tenant string, metadata map[string]string) (s pbx.Settings, optErr, err error) {
	override, optErr := pbx.ParseUploadOptions(metadata)
	s, err = h.jobs.LoadSettings(ctx, tenant, override)
	if err != nil && pbx.ErrorCode(err) == pbx.EINVALID && optErr == nil {
		optErr = err
		s, err = h.jobs.LoadSettings(ctx, tenant)
	}
	if err != nil {
		return pbx.Settings{}, nil, fmt.Errorf("load settings of tenant %s: %w", tenant, err)
	}
	return s, optErr, nil
}

// jobRun is one upload being ingested.
type jobRun struct {
	h        *Handler
	log      *slog.Logger
	tenant   string
	id       string
	settings pbx.Settings
	temp     []*os.File
}

func (j *jobRun) cleanup() {
	for _, f := range j.temp {
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
}

// spool is a temporary JSONL file written line by line.
type spool struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
}

func (j *jobRun) newSpool(pattern string) (*spool, error) {
	f, err := os.CreateTemp(j.h.cfg.TempDir, pattern)
	if err != nil {
		return nil, fmt.Errorf("create spool file: %w", err)
	}
	j.temp = append(j.temp, f)
	w := bufio.NewWriterSize(f, 64<<10)
	return &spool{f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// rewind flushes the spool and positions it for reading.
func (s *spool) rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write spool: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind spool: %w", err)
	}
	return nil
}

// run validates the upload, writes its files, starts the workflow when
// rows are to be created and records the job's status.
func (j *jobRun) run(ctx context.Context, body io.Reader) error {
	rows, rejected, report, err := j.validate(ctx, body)
	if err != nil {
		return err
	}
	if report.FileError != nil {
		return j.reject(ctx, report)
	}
	if err := rows.rewind(); err != nil {
		return err
	}
	if err := rejected.rewind(); err != nil {
		return err
	}
	counts := steps.Counts{Rows: report.Rows, Invalid: report.Invalid, Skipped: report.Skipped}
	v := decide(report, j.settings)
	if counts.Held, err = j.putRejected(ctx, rejected, rows, v.heldBecause); err != nil {
		return err
	}
	if err := j.putReport(ctx, report); err != nil {
		return err
	}
	if v.status == jobmodel.Running {
		if err := j.put(ctx, jobfiles.RowsKey(j.tenant, j.id), rows.f, "application/x-ndjson"); err != nil {
			return err
		}
		if err := j.start(ctx, report.Valid); err != nil {
			return err
		}
	}
	if err := j.h.jobs.UpdateJobStatus(ctx, j.tenant, j.id, v.status, counts, v.errMsg); err != nil {
		if v.status == jobmodel.Running && pbx.ErrorCode(err) == pbx.ECONFLICT {
			// The workflow finished before RUNNING was recorded: its final
			// status stands.
			j.log.InfoContext(ctx, "workflow finished before ingest recorded RUNNING")
			return nil
		}
		return fmt.Errorf("job %s status %s: %w", j.id, v.status, err)
	}
	format := ""
	if report.Source != nil {
		format = report.Source.Mapping
	}
	j.log.InfoContext(ctx, "upload ingested", "status", v.status, "format", format, "rows", report.Rows, "valid", report.Valid,
		"invalid", report.Invalid, "skipped", report.Skipped, "held", counts.Held)
	if v.status != jobmodel.Running {
		return j.finalize(ctx)
	}
	return nil
}

// validate validates the upload, spooling its valid rows and its rejected
// rows to temporary files.
func (j *jobRun) validate(ctx context.Context, body io.Reader) (rows, rejected *spool, report *Report, err error) {
	if rows, err = j.newSpool("rows-*.jsonl"); err != nil {
		return nil, nil, nil, err
	}
	if rejected, err = j.newSpool("rejected-*.jsonl"); err != nil {
		return nil, nil, nil, err
	}
	report, err = Validate(ctx, body, Input{
		Tenant:          j.tenant,
		Job:             j.id,
		Settings:        j.settings,
		Lookup:          j.h.jobs,
		KnownPhoneModel: j.h.cfg.KnownPhoneModel,
		Secrets:         j.h.cfg.Secrets,
		Rows:            func(r pbx.UserRow) error { return rows.enc.Encode(r) },
		Rejected:        func(r steps.RowResult) error { return rejected.enc.Encode(r) },
		Logger:          j.log,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("validate job %s: %w", j.id, err)
	}
	return rows, rejected, report, nil
}

// verdict is what ingest does with a validated upload.
type verdict struct {
	status      string // the job's status after ingest
	heldBecause string // non-empty: the valid rows are reported held, with this reason
	errMsg      string // the job's error message
}

// decide returns the job's verdict from its validation report.
func decide(report *Report, s pbx.Settings) verdict {
	switch {
	case report.Valid == 0 && report.Invalid == 0 && report.Skipped > 0:
		return verdict{status: jobmodel.Done} // every row exists already and on-existing is skip
	case report.Valid == 0:
		return verdict{status: jobmodel.Rejected, errMsg: "no row is valid"}
	case s.Upload.DryRun:
		return verdict{status: jobmodel.DryRun, heldBecause: "dry run: nothing was created"}
	case s.AllOrNothing && report.Invalid > 0:
		return verdict{status: jobmodel.Held,
			heldBecause: "held back: the file has invalid rows and this tenant processes files all or nothing",
			errMsg:      fmt.Sprintf("%d invalid rows; nothing was created", report.Invalid)}
	default:
		return verdict{status: jobmodel.Running}
	}
}

// putRejected writes the job's rejected rows; with heldBecause, the valid
// rows too, as held, in line order. It returns how many rows are held.
func (j *jobRun) putRejected(ctx context.Context, rejected, rows *spool, heldBecause string) (held int, err error) {
	body := io.ReadSeeker(rejected.f)
	if heldBecause != "" {
		merged, err := j.newSpool("held-*.jsonl")
		if err != nil {
			return 0, err
		}
		if held, err = mergeHeld(merged.enc, rejected.f, rows.f, heldBecause); err != nil {
			return 0, fmt.Errorf("job %s: %w", j.id, err)
		}
		if err := merged.rewind(); err != nil {
			return 0, err
		}
		body = merged.f
	}
	return held, j.put(ctx, jobfiles.RejectedKey(j.tenant, j.id), body, "application/x-ndjson")
}

// finalize writes the final report of a job that ends in ingest.
func (j *jobRun) finalize(ctx context.Context) error {
	if j.h.cfg.Finalize == nil {
		return nil
	}
	err := j.h.cfg.Finalize(ctx, steps.FinalizeInput{Tenant: j.tenant, Job: j.id, JobsBucket: j.h.cfg.JobsBucket})
	if err != nil {
		return fmt.Errorf("finalize job %s: %w", j.id, err)
	}
	return nil
}

// reject records an unusable file: the validation report and the job's
// status, nothing else.
func (j *jobRun) reject(ctx context.Context, report *Report) error {
	if err := j.putReport(ctx, report); err != nil {
		return err
	}
	counts := steps.Counts{Rows: report.Rows}
	if err := j.h.jobs.UpdateJobStatus(ctx, j.tenant, j.id, jobmodel.Rejected, counts, report.FileError.Message); err != nil {
		return fmt.Errorf("job %s status %s: %w", j.id, jobmodel.Rejected, err)
	}
	j.log.WarnContext(ctx, "upload rejected", "code", report.FileError.Code, "line", report.FileError.Line, "reason", report.FileError.Message)
	return j.finalize(ctx)
}

func (j *jobRun) putReport(ctx context.Context, report *Report) error {
	var js, csv strings.Builder
	if err := report.WriteJSON(&js); err != nil {
		return err
	}
	if err := report.WriteCSV(&csv); err != nil {
		return err
	}
	if err := j.put(ctx, jobfiles.ValidationJSONKey(j.tenant, j.id), strings.NewReader(js.String()), "application/json"); err != nil {
		return err
	}
	return j.put(ctx, jobfiles.ValidationCSVKey(j.tenant, j.id), strings.NewReader(csv.String()), "text/csv; charset=utf-8")
}

func (j *jobRun) put(ctx context.Context, key string, body io.ReadSeeker, contentType string) error {
	_, err := j.h.objects.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(j.h.cfg.JobsBucket),
		Key:         aws.String(key),
		Body:        body,
		ContentType: aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", j.h.cfg.JobsBucket, key, err)
	}
	return nil
}

// start starts the workflow, named after the job so that it runs once.
func (j *jobRun) start(ctx context.Context, valid int) error {
	input, err := json.Marshal(steps.JobInput{
		Tenant:                     j.tenant,
		Job:                        j.id,
		JobsBucket:                 j.h.cfg.JobsBucket,
		RowsKey:                    jobfiles.RowsKey(j.tenant, j.id),
		ResultsKey:                 jobfiles.ResultsPrefix(j.tenant, j.id),
		Welcome:                    string(j.settings.Upload.Welcome),
		Rows:                       valid,
		BatchSize:                  j.settings.BatchSize,
		RecordsConcurrency:         j.h.cfg.RecordsConcurrency,
		WelcomeConcurrency:         j.h.cfg.WelcomeConcurrency,
		ToleratedFailurePercentage: j.h.cfg.ToleratedFailurePercentage,
	})
	if err != nil {
		return fmt.Errorf("job %s input: %w", j.id, err)
	}
	_, err = j.h.execs.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(j.h.cfg.StateMachineARN),
		Name:            aws.String(j.id),
		Input:           aws.String(string(input)),
	})
	var already *sfntypes.ExecutionAlreadyExists
	switch {
	case errors.As(err, &already):
		j.log.InfoContext(ctx, "execution already started")
	case err != nil:
		return fmt.Errorf("start execution %s: %w", j.id, err)
	}
	return nil
}

// mergeHeld writes the rejected rows and the valid rows (as held, with
// reason) in line order; both inputs are JSONL in line order.
func mergeHeld(out *json.Encoder, rejected, valid io.Reader, reason string) (held int, err error) {
	rs, vs := newLineScanner(rejected), newLineScanner(valid)
	var r steps.RowResult
	var v pbx.UserRow
	haveR, err := rs.next(&r)
	if err != nil {
		return 0, err
	}
	haveV, err := vs.next(&v)
	if err != nil {
		return 0, err
	}
	for haveR || haveV {
		if haveR && (!haveV || r.Line < v.Line) {
			if err := out.Encode(r); err != nil {
				return held, err
			}
			r = steps.RowResult{}
			if haveR, err = rs.next(&r); err != nil {
				return held, err
			}
			continue
		}
		held++
		if err := out.Encode(steps.RowResult{
			Line: v.Line, Extension: v.Extension, Name: v.DisplayName(), Email: v.Email, DID: v.DID, MAC: v.MAC,
			Status: steps.StatusHeld, Code: pbx.CodeHeldAllOrNothing, Message: reason,
		}); err != nil {
			return held, err
		}
		v = pbx.UserRow{}
		if haveV, err = vs.next(&v); err != nil {
			return held, err
		}
	}
	return held, nil
}

type lineScanner struct{ s *bufio.Scanner }

func newLineScanner(r io.Reader) *lineScanner {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	return &lineScanner{s: s}
}

func (l *lineScanner) next(v any) (bool, error) {
	if !l.s.Scan() {
		if err := l.s.Err(); err != nil {
			return false, fmt.Errorf("read spool: %w", err)
		}
		return false, nil
	}
	if err := json.Unmarshal(l.s.Bytes(), v); err != nil {
		return false, fmt.Errorf("decode spool: %w", err)
	}
	return true, nil
}

// NewStep wires ingest as the Lambda function and the local run do: fin
// writes the report of a job that ends without a workflow.
func NewStep(objects Objects, st *store.Store, execs Executions, fin *finalize.Handler, seal Sealers, jobsBucket, stateMachineARN string, welcomeConcurrency int, log *slog.Logger) *Handler {
	return NewHandler(Config{
		Secrets:            seal,
		JobsBucket:         jobsBucket,
		StateMachineARN:    stateMachineARN,
		WelcomeConcurrency: welcomeConcurrency,
		KnownPhoneModel:    provision.KnownModel,
		Finalize: func(ctx context.Context, in steps.FinalizeInput) error {
			_, err := fin.Handle(ctx, in)
			return err
		},
		Logger: log,
	}, objects, st, execs)
}
