// Package finalize closes a job: it merges the valid rows, the rows ingest
// rejected, each batch's results and each batch's email outcomes in line
// order into report.csv and summary.json, and sets the job's final status.
// A batch that died after its retries wrote no results object; its rows
// still appear, failed with a reason, so every CSV line is accounted for.
package finalize

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/report"
)

// Objects is the part of *s3.Client finalize uses.
type Objects interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Jobs is the part of *store.Store finalize uses.
type Jobs interface {
	GetJob(ctx context.Context, tenant, id string) (jobmodel.Job, error)
	FinishJobAt(ctx context.Context, tenant, id, status string, counts events.Counts, reportKey, summaryKey string, finishedAt time.Time) error
}

// Handler is the finalize step.
type Handler struct {
	S3     Objects
	Jobs   Jobs
	Logger *slog.Logger
	Now    func() time.Time
}

// Summary is summary.json.
type Summary struct {
	Tenant          string              `json:"tenant"`
	Job             string              `json:"job"`
	Status          string              `json:"status"`
	Upload          string              `json:"upload,omitempty"`
	Options         pbx.Options         `json:"options"`
	Counts          events.Counts       `json:"counts"`
	StartedAt       time.Time           `json:"started_at,omitzero"`
	FinishedAt      time.Time           `json:"finished_at"`
	DurationSeconds float64             `json:"duration_seconds"`
	Report          string              `json:"report"`
	Phase1Error     *events.CaughtError `json:"phase1_error,omitempty"`
	Phase2Error     *events.CaughtError `json:"phase2_error,omitempty"`
	// Source is the upload's column report (peer detected, what each
	// column fed), as ingest wrote it in validation.json.
	Source json.RawMessage `json:"source,omitempty"`
}

// ReportHeader is report.csv's header row.
var reportHeader = []string{"line", "extension", "user", "status", "error_code", "message", "provisioning_file", "email_status"}

// Handle finalizes one job. Running it twice gives the same report and
// summary: the finish time is taken from the job once it is set.
func (h *Handler) Handle(ctx context.Context, in events.FinalizeInput) (events.FinalizeOutput, error) {
	log := h.logger().With("tenant", in.Tenant, "job", in.Job)
	if err := pbx.ValidateTenantName(in.Tenant); err != nil {
		return events.FinalizeOutput{}, err
	}
	job, err := h.Jobs.GetJob(ctx, in.Tenant, in.Job)
	if err != nil {
		return events.FinalizeOutput{}, fmt.Errorf("finalize %s/%s: %w", in.Tenant, in.Job, err)
	}
	rows, err := h.merge(ctx, in, job.Options.Welcome)
	if err != nil {
		return events.FinalizeOutput{}, fmt.Errorf("finalize %s/%s: %w", in.Tenant, in.Job, err)
	}
	counts := Count(rows)
	status := jobmodel.FinalStatus(counts)
	if jobmodel.EndedAtIngest(job.Status) {
		// No workflow ran: ingest's verdict (REJECTED, DRY_RUN, HELD) stands;
		// finalize only adds the report and summary.
		status = job.Status
	}

	var csvBuf bytes.Buffer
	if err := WriteReport(&csvBuf, rows); err != nil {
		return events.FinalizeOutput{}, err
	}
	reportKey := jobfiles.ReportKey(in.Tenant, in.Job)
	summaryKey := jobfiles.SummaryKey(in.Tenant, in.Job)
	if err := h.put(ctx, in.JobsBucket, reportKey, "text/csv; charset=utf-8", csvBuf.Bytes()); err != nil {
		return events.FinalizeOutput{}, err
	}
	sum := h.summary(in, job, status, counts, reportKey)
	if sum.Source, err = h.columnReport(ctx, in); err != nil {
		return events.FinalizeOutput{}, err
	}
	sumJSON, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return events.FinalizeOutput{}, fmt.Errorf("encode summary: %w", err)
	}
	if err := h.put(ctx, in.JobsBucket, summaryKey, "application/json", append(sumJSON, '\n')); err != nil {
		return events.FinalizeOutput{}, err
	}
	if err := h.Jobs.FinishJobAt(ctx, in.Tenant, in.Job, status, counts, reportKey, summaryKey, sum.FinishedAt); err != nil {
		return events.FinalizeOutput{}, fmt.Errorf("finish job %s/%s: %w", in.Tenant, in.Job, err)
	}
	log.InfoContext(ctx, "job finalized", "status", status, "rows", counts.Rows, "created", counts.Created,
		"failed", counts.Failed, "invalid", counts.Invalid, "emails_sent", counts.EmailsSent)
	return events.FinalizeOutput{Tenant: in.Tenant, Job: in.Job, Status: status, ReportKey: reportKey, Counts: counts}, nil
}

// summary is the job's summary.json, without its column report. The
// finish time is the job's once it is set, so a second run gives the same.
func (h *Handler) summary(in events.FinalizeInput, job jobmodel.Job, status string, counts events.Counts, reportKey string) Summary {
	finished := job.FinishedAt
	if finished.IsZero() {
		finished = h.now().UTC().Truncate(time.Millisecond)
	}
	started := job.StartedAt
	if started.IsZero() {
		started = job.CreatedAt
	}
	sum := Summary{
		Tenant: in.Tenant, Job: in.Job, Status: status, Upload: job.Upload.Key, Options: job.Options,
		Counts: counts, StartedAt: started, FinishedAt: finished, Report: reportKey,
		Phase1Error: in.Phase1Error, Phase2Error: in.Phase2Error,
	}
	if !started.IsZero() {
		sum.DurationSeconds = finished.Sub(started).Seconds()
	}
	return sum
}

// Count tallies rows by outcome.
func Count(rows []events.RowResult) events.Counts {
	var c events.Counts
	for _, r := range rows {
		c.Rows++
		switch r.Status {
		case events.StatusCreated:
			c.Created++
		case events.StatusUpdated:
			c.Updated++
		case events.StatusSkipped:
			c.Skipped++
		case events.StatusInvalid:
			c.Invalid++
		case events.StatusHeld:
			c.Held++
		default:
			c.Failed++
		}
		switch r.EmailStatus {
		case events.EmailSent, events.EmailAlready:
			c.EmailsSent++
		case events.EmailFailed:
			c.EmailsFailed++
		case events.EmailHeld:
			c.EmailsHeld++
		}
		if r.ProvisioningFile != "" {
			c.Provisioned++
		}
	}
	return c
}

// WriteReport writes report.csv for rows in line order.
func WriteReport(w io.Writer, rows []events.RowResult) error {
	cw := report.NewWriter(w)
	if err := cw.Write(reportHeader...); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, r := range rows {
		msg := r.Message
		for _, warn := range r.Warnings {
			if msg != "" {
				msg += "; "
			}
			msg += "warning: " + warn
		}
		if err := cw.Write(strconv.Itoa(r.Line), r.Extension, r.User, r.Status, r.Code, msg, r.ProvisioningFile, r.EmailStatus); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// Rows returns the job's rows as its report shows them, from the job's files
// as they are now: the valid rows, the rows ingest rejected, each batch's
// results and each batch's email outcomes, in line order. The portal's job
// view reads a job's users with it.
func (h *Handler) Rows(ctx context.Context, in events.FinalizeInput, welcome pbx.WelcomeMode) ([]events.RowResult, error) {
	return h.merge(ctx, in, welcome)
}

// merge builds the final per-row results in line order. Rows are few enough
// per job (bounded by the max-rows setting) to hold their results; the
// result objects are read one by one.
func (h *Handler) merge(ctx context.Context, in events.FinalizeInput, welcome pbx.WelcomeMode) ([]events.RowResult, error) {
	byLine := map[int]events.RowResult{}
	if err := h.readRows(ctx, in, byLine); err != nil {
		return nil, err
	}
	err := h.eachObject(ctx, in.JobsBucket, jobfiles.ResultsPrefix(in.Tenant, in.Job), func(key string, b events.BatchResult) {
		for _, r := range b.Rows {
			byLine[r.Line] = r
		}
	})
	if err != nil {
		return nil, err
	}
	err = h.eachObject(ctx, in.JobsBucket, jobfiles.EmailsPrefix(in.Tenant, in.Job), func(key string, b events.BatchResult) {
		for _, e := range b.Rows {
			if r, ok := byLine[e.Line]; ok {
				byLine[e.Line] = withEmail(r, e)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	settleMissingEmails(byLine, in, welcome)

	rows := make([]events.RowResult, 0, len(byLine))
	for _, r := range byLine {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Line < rows[j].Line })
	return rows, nil
}

// readRows fills byLine with ingest's rows: the valid rows as failed (only
// a batch's results object proves otherwise), then the rejected rows.
func (h *Handler) readRows(ctx context.Context, in events.FinalizeInput, byLine map[int]events.RowResult) error {
	missing := "its batch did not complete"
	if in.Phase1Error != nil && in.Phase1Error.Error != "" {
		missing += " (" + in.Phase1Error.Error + ")"
	}
	err := h.eachLine(ctx, in.JobsBucket, jobfiles.RowsKey(in.Tenant, in.Job), func(line []byte) error {
		var r pbx.UserRow
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("rows.jsonl: %w", err)
		}
		byLine[r.Line] = events.RowResult{
			Line: r.Line, Extension: r.Extension, Name: r.DisplayName(), Email: r.Email, DID: r.DID, MAC: r.MAC,
			User: pbx.PortalUserName(in.Tenant, r.Extension), Status: events.StatusFailed,
			Code: pbx.CodeBatchFailed, Message: missing,
		}
		return nil
	})
	if err != nil {
		return err
	}
	return h.eachLine(ctx, in.JobsBucket, jobfiles.RejectedKey(in.Tenant, in.Job), func(line []byte) error {
		var r events.RowResult
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("rejected.jsonl: %w", err)
		}
		byLine[r.Line] = r
		return nil
	})
}

// withEmail returns r with the email outcome e; a failed or held email's
// message is added to the row's.
func withEmail(r, e events.RowResult) events.RowResult {
	r.EmailStatus = e.EmailStatus
	r.EmailMessageID = e.EmailMessageID
	if (e.EmailStatus == events.EmailFailed || e.EmailStatus == events.EmailHeld) && e.Message != "" {
		if r.Message != "" {
			r.Message += "; "
		}
		r.Message += "email: " + e.Message
		if r.Code == "" {
			r.Code = e.Code
		}
	}
	return r
}

// settleMissingEmails gives the created rows without an email outcome the
// one the workflow's path implies.
func settleMissingEmails(byLine map[int]events.RowResult, in events.FinalizeInput, welcome pbx.WelcomeMode) {
	set := func(status string) {
		for line, r := range byLine {
			if r.Status == events.StatusCreated && r.EmailStatus == "" && r.Email != "" {
				r.EmailStatus = status
				byLine[line] = r
			}
		}
	}
	if welcome == pbx.WelcomeNone || (in.Phase1Error != nil && in.Phase1Error.Error != "") {
		// Phase 2 did not run (welcome=none, or phase 1 failed beyond its
		// tolerance and the workflow went straight to finalize): the users
		// that exist wait for `bulkprov send-welcome`.
		set(events.EmailDeferred)
	}
	if in.Phase2Error != nil && in.Phase2Error.Error != "" {
		// Phase 2 died: rows that should have had an email and have no outcome.
		set(events.EmailFailed)
	}
}

// eachLine calls fn for each non-empty line of an object; a missing object
// has no lines.
func (h *Handler) eachLine(ctx context.Context, bucket, key string, fn func([]byte) error) error {
	out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer out.Body.Close()
	sc := bufio.NewScanner(out.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// eachObject decodes every JSON object under prefix as a BatchResult.
func (h *Handler) eachObject(ctx context.Context, bucket, prefix string, fn func(key string, b events.BatchResult)) error {
	p := s3.NewListObjectsV2Paginator(h.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, obj := range page.Contents {
			key := aws.ToString(obj.Key)
			if !strings.HasSuffix(key, ".json") {
				continue
			}
			out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
			}
			var b events.BatchResult
			err = json.NewDecoder(out.Body).Decode(&b)
			out.Body.Close()
			if err != nil {
				return fmt.Errorf("decode s3://%s/%s: %w", bucket, key, err)
			}
			fn(key, b)
		}
	}
	return nil
}

func (h *Handler) put(ctx context.Context, bucket, key, contentType string, body []byte) error {
	_, err := h.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String(contentType), ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// columnReport returns the "source" of the job's validation.json, or nil
// when there is none.
func (h *Handler) columnReport(ctx context.Context, in events.FinalizeInput) (json.RawMessage, error) {
	key := jobfiles.ValidationJSONKey(in.Tenant, in.Job)
	out, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(in.JobsBucket), Key: aws.String(key)})
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", in.JobsBucket, key, err)
	}
	defer out.Body.Close()
	var v struct {
		Source json.RawMessage `json:"source"`
	}
	if err := json.NewDecoder(out.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", in.JobsBucket, key, err)
	}
	if len(v.Source) == 0 || string(v.Source) == "null" {
		return nil, nil
	}
	return v.Source, nil
}

func isNotFound(err error) bool {
	var nsk *s3types.NoSuchKey
	var nf *s3types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// NewStep wires finalize as the Lambda functions and the local run do.
func NewStep(s3 Objects, jobs Jobs, log *slog.Logger) *Handler {
	return &Handler{S3: s3, Jobs: jobs, Logger: log}
}
