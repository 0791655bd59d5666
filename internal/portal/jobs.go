package portal

import (
	"context"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// JobView is a job as the page sees it.
type JobView struct {
	ID              string        `json:"id"`
	Status          string        `json:"status"`
	UploadName      string        `json:"upload_name"`
	UploadKey       string        `json:"upload_key"`
	Options         pbx.Options   `json:"options"`
	Counts          events.Counts `json:"counts"`
	CreatedAt       time.Time     `json:"created_at,omitzero"`
	StartedAt       time.Time     `json:"started_at,omitzero"`
	FinishedAt      time.Time     `json:"finished_at,omitzero"`
	Error           string        `json:"error,omitempty"`
	ReportAvailable bool          `json:"report_available"`
	Progress        *Progress     `json:"progress,omitempty"`
}

// Progress is how far a job has got. While RUNNING, Done counts the rows
// whose batch has a results object (phase "records"), then the batches
// with an email outcome (phase "emails"); Percent covers both.
type Progress struct {
	Phase   string  `json:"phase"` // validating | records | emails | finished
	Done    int     `json:"done"`
	Total   int     `json:"total"`
	Percent float64 `json:"percent"`
}

// JobList is GET /jobs' answer, newest first.
type JobList struct {
	Jobs []JobView `json:"jobs"`
}

// ReportLink is GET /jobs/{id}/report's answer: a presigned GET.
type ReportLink struct {
	URL       string    `json:"url"`
	Name      string    `json:"name"`
	ExpiresAt time.Time `json:"expires_at"`
}

const (
	defaultJobsLimit = 20
	maxJobsLimit     = 100
	// maxListPages bounds the objects counted for progress (1,000 a page).
	maxListPages = 20
)

func (h *Handler) listJobs(ctx context.Context, r *request) (any, error) {
	limit := defaultJobsLimit
	if s, ok := r.query["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxJobsLimit {
			return nil, &apiError{status: http.StatusBadRequest, code: pbx.EINVALID, field: "limit", message: "limit must be 1-100"}
		}
		limit = n
	}
	upload, filter := r.query["upload"]
	if filter {
		prefix := jobfiles.UploadPrefix(r.tenant)
		if !strings.HasPrefix(upload, prefix) || strings.Contains(upload, "..") || strings.Contains(upload[len(prefix):], "/") {
			return nil, &apiError{status: http.StatusBadRequest, code: pbx.CodeBadKey, field: "upload", message: "upload must be one of your uploads' keys"}
		}
		limit = maxJobsLimit
	}
	jobs, err := h.deps.Jobs.ListJobs(ctx, r.tenant, limit)
	if err != nil {
		return nil, err
	}
	out := JobList{Jobs: []JobView{}}
	for _, j := range jobs {
		if j.Tenant != r.tenant || (filter && j.Upload.Key != upload) {
			continue
		}
		out.Jobs = append(out.Jobs, h.view(r.tenant, j))
	}
	return out, nil
}

func (h *Handler) getJob(ctx context.Context, r *request) (any, error) {
	j, err := h.job(ctx, r.tenant, r.query[":id"])
	if err != nil {
		return nil, err
	}
	v := h.view(r.tenant, j)
	p, err := h.progress(ctx, r.tenant, j)
	if err != nil {
		return nil, err
	}
	v.Progress = p
	return v, nil
}

func (h *Handler) jobReport(ctx context.Context, r *request) (any, error) {
	j, err := h.job(ctx, r.tenant, r.query[":id"])
	if err != nil {
		return nil, err
	}
	key := reportKey(r.tenant, j)
	if key == "" {
		return nil, errorf(http.StatusConflict, codeNotReady, "the job has no report yet")
	}
	name := j.ID + "-" + path.Base(key)
	signed, err := h.deps.Presigner.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket:                     aws.String(h.cfg.JobsBucket),
		Key:                        aws.String(key),
		ResponseContentDisposition: aws.String(`attachment; filename="` + name + `"`),
		ResponseContentType:        aws.String("text/csv; charset=utf-8"),
	}, s3.WithPresignExpires(h.cfg.PresignTTL))
	if err != nil {
		return nil, err
	}
	return ReportLink{URL: signed.URL, Name: name, ExpiresAt: h.cfg.Now().UTC().Add(h.cfg.PresignTTL)}, nil
}

// job reads one of the tenant's jobs. A job of another tenant and a
// missing job get the very same answer.
func (h *Handler) job(ctx context.Context, tenant, id string) (jobmodel.Job, error) {
	j, err := h.deps.Jobs.GetJob(ctx, tenant, id)
	notFound := errorf(http.StatusNotFound, pbx.ENOTFOUND, "no such job")
	switch {
	case err != nil && pbx.ErrorCode(err) == pbx.ENOTFOUND:
		return jobmodel.Job{}, notFound
	case err != nil:
		return jobmodel.Job{}, err
	case j.ID != id || j.Tenant != tenant:
		return jobmodel.Job{}, notFound
	}
	return j, nil
}

func (h *Handler) view(tenant string, j jobmodel.Job) JobView {
	return JobView{
		ID: j.ID, Status: j.Status, UploadName: path.Base(j.Upload.Key), UploadKey: j.Upload.Key,
		Options: j.Options, Counts: j.Counts,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Error: j.Error, ReportAvailable: reportKey(tenant, j) != "",
	}
}

// reportKey is the report a finished job offers: finalize's report.csv, or
// for a job that never ran (rejected, dry run, held) ingest's validation
// report. Keys outside the job's own folder are never offered.
func reportKey(tenant string, j jobmodel.Job) string {
	if !jobmodel.Terminal(j.Status) {
		return ""
	}
	key := j.ReportKey
	if key == "" && jobmodel.EndedAtIngest(j.Status) {
		key = jobfiles.ValidationCSVKey(tenant, j.ID)
	}
	if key == "" || !strings.HasPrefix(key, jobfiles.JobPrefix(tenant, j.ID)) || strings.Contains(key, "..") {
		return ""
	}
	return key
}

func (h *Handler) progress(ctx context.Context, tenant string, j jobmodel.Job) (*Progress, error) {
	switch {
	case jobmodel.Terminal(j.Status):
		return &Progress{Phase: "finished", Done: j.Counts.Rows, Total: j.Counts.Rows, Percent: 100}, nil
	case j.Status != jobmodel.Running:
		return &Progress{Phase: "validating", Total: j.Counts.Rows}, nil
	}
	total := j.Counts.Rows - j.Counts.Invalid - j.Counts.Skipped - j.Counts.Held
	if total <= 0 {
		return &Progress{Phase: "records", Percent: 0}, nil
	}
	settings, err := h.deps.Settings.LoadSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	batch := max(settings.BatchSize, 1)
	batches := (total + batch - 1) / batch
	results, err := h.countObjects(ctx, jobfiles.ResultsPrefix(tenant, j.ID))
	if err != nil {
		return nil, err
	}
	// Every batch but the last is full, so finished batches × batch size,
	// capped, is the exact number of rows done.
	done := min(results*batch, total)
	withEmails := j.Options.Welcome != pbx.WelcomeNone
	recordsShare := 100.0
	if withEmails {
		recordsShare = 80
	}
	p := &Progress{Phase: "records", Done: done, Total: total, Percent: recordsShare * float64(done) / float64(total)}
	if done == total && withEmails {
		emails, err := h.countObjects(ctx, jobfiles.EmailsPrefix(tenant, j.ID))
		if err != nil {
			return nil, err
		}
		emails = min(emails, batches)
		p = &Progress{Phase: "emails", Done: emails, Total: batches, Percent: recordsShare + (100-recordsShare)*float64(emails)/float64(batches)}
	}
	p.Percent = min(p.Percent, 99) // 100 is for a finished job
	return p, nil
}

// countObjects counts the .json objects under prefix in the jobs bucket.
func (h *Handler) countObjects(ctx context.Context, prefix string) (int, error) {
	n := 0
	pager := s3.NewListObjectsV2Paginator(h.deps.Objects, &s3.ListObjectsV2Input{
		Bucket: aws.String(h.cfg.JobsBucket), Prefix: aws.String(prefix),
	})
	for page := 0; pager.HasMorePages() && page < maxListPages; page++ {
		out, err := pager.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, o := range out.Contents {
			if strings.HasSuffix(aws.ToString(o.Key), ".json") {
				n++
			}
		}
	}
	return n, nil
}
