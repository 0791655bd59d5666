// Package welcomejob sends a job's welcome emails when an admin asks for
// them — the emails held back by welcome=none, failed ones, and (confirmed)
// uncertain ones, for every user of the job or one — and then refreshes the
// job's report and counts. It is the one code path of `bulkprov
// send-welcome` and of the portal's "send held emails" and "resend": each
// email still goes through welcome.Handler's ledger (at most once, the
// account's rate and quotas).
package welcomejob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// DefaultMargin is the time a batch is not started without, before the
// context's deadline (an API request's): a batch of 50 at a slow account's
// rate, plus recording the outcome.
const DefaultMargin = 12 * time.Second

// Objects is the part of *s3.Client the sender uses.
type Objects interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Jobs reads job items; *store.Store satisfies it.
type Jobs interface {
	GetJob(ctx context.Context, tenant, id string) (jobmodel.Job, error)
}

// Sender sends a job's welcome emails on request.
type Sender struct {
	Welcome *welcome.Handler
	// Finalize rewrites the job's report, summary and counts after a send
	// (nil: they are left as they were).
	Finalize   *finalize.Handler
	Jobs       Jobs
	S3         Objects
	JobsBucket string
	// Margin: no batch is started with less time than this left before the
	// context's deadline; 0 is DefaultMargin. Without a deadline every
	// batch is done in one call.
	Margin time.Duration
}

// Request is one admin request.
type Request struct {
	Tenant, Job string
	// Extension limits the send to one user of the job; "" sends every
	// user's email that is still due.
	Extension string
	// ResendUncertain takes over reservations whose outcome is unknown:
	// those users may get a second email. Only on the admin's confirmation.
	ResendUncertain bool
	// After continues a send that ran out of time: the Next of the
	// previous call.
	After string
}

// Result is what a request did.
type Result struct {
	Total   events.WelcomeOutput `json:"total"`
	Batches int                  `json:"batches"`
	// Next is set when time ran out before every batch was done: call
	// again with Request.After = Next to go on.
	Next string `json:"next,omitempty"`
	// ReportRefreshed says the job's report and counts were rewritten.
	ReportRefreshed bool `json:"report_refreshed"`
}

// Send sends the request's emails, batch by batch in results-key order.
// A job with no results yet, or an extension that is not one of the job's
// created users, is ENOTFOUND.
func (s *Sender) Send(ctx context.Context, req Request) (Result, error) {
	res := Result{Total: events.WelcomeOutput{Tenant: req.Tenant, Job: req.Job}}
	if err := pbx.ValidateTenantName(req.Tenant); err != nil {
		return res, err
	}
	job, err := s.Jobs.GetJob(ctx, req.Tenant, req.Job)
	if err != nil {
		return res, err
	}
	keys, err := s.resultKeys(ctx, req.Tenant, req.Job)
	if err != nil {
		return res, err
	}
	if len(keys) == 0 {
		return res, pbx.Errorf(pbx.ENOTFOUND, "job", "job %s has no created rows yet (no results under %s)", req.Job, jobfiles.ResultsPrefix(req.Tenant, req.Job))
	}
	margin := s.Margin
	if margin <= 0 {
		margin = DefaultMargin
	}
	opt := welcome.Options{SendDeferred: true, ResendUncertain: req.ResendUncertain, Extension: req.Extension}
	found := false
	for _, key := range keys {
		if req.After != "" && key <= req.After {
			continue
		}
		// One user's email is one send: it is looked for in every batch.
		if deadline, ok := ctx.Deadline(); ok && req.Extension == "" && res.Batches > 0 && time.Until(deadline) < margin {
			break
		}
		out, err := s.Welcome.Send(ctx, events.WelcomeInput{
			Tenant: req.Tenant, Job: req.Job, JobsBucket: s.JobsBucket, Key: key, Concurrency: 1,
		}, opt)
		if err != nil {
			return res, err
		}
		res.Batches++
		res.Next = key
		addCounts(&res.Total, out)
		if req.Extension != "" && out.Handled() > 0 {
			found = true
			break
		}
	}
	if res.Next == keys[len(keys)-1] || found {
		res.Next = ""
	}
	if req.Extension != "" && !found {
		return res, pbx.Errorf(pbx.ENOTFOUND, "extension", "extension %s is not a user this job created with an email address", req.Extension)
	}
	if res.Next == "" && s.Finalize != nil && finished(job.Status) {
		if err := s.refresh(ctx, job); err != nil {
			return res, err
		}
		res.ReportRefreshed = true
	}
	return res, nil
}

// addCounts adds a batch's counts to the request's total.
func addCounts(total *events.WelcomeOutput, out events.WelcomeOutput) {
	total.Sent += out.Sent
	total.AlreadySent += out.AlreadySent
	total.Failed += out.Failed
	total.Uncertain += out.Uncertain
	total.Deferred += out.Deferred
	total.Held += out.Held
}

// finished reports whether finalize has closed the job (its report exists
// and would be stale after a send).
func finished(status string) bool {
	switch status {
	case jobmodel.Done, jobmodel.Partial, jobmodel.Failed:
		return true
	}
	return false
}

// refresh runs finalize again with the phase errors of its first run, so
// report.csv, summary.json and the job's counts show the emails just sent.
func (s *Sender) refresh(ctx context.Context, job jobmodel.Job) error {
	in := events.FinalizeInput{Tenant: job.Tenant, Job: job.ID, JobsBucket: s.JobsBucket}
	key := job.SummaryKey
	if key == "" || !strings.HasPrefix(key, jobfiles.JobPrefix(job.Tenant, job.ID)) {
		key = jobfiles.SummaryKey(job.Tenant, job.ID)
	}
	obj, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.JobsBucket), Key: aws.String(key)})
	switch {
	case err == nil:
		var sum finalize.Summary
		err = json.NewDecoder(io.LimitReader(obj.Body, 1<<20)).Decode(&sum)
		obj.Body.Close()
		if err != nil {
			return fmt.Errorf("decode summary of job %s/%s: %w", job.Tenant, job.ID, err)
		}
		in.Phase1Error, in.Phase2Error = sum.Phase1Error, sum.Phase2Error
	case !isNotFound(err):
		return fmt.Errorf("get summary of job %s/%s: %w", job.Tenant, job.ID, err)
	}
	if _, err := s.Finalize.Handle(ctx, in); err != nil {
		return fmt.Errorf("refresh the report of job %s/%s: %w", job.Tenant, job.ID, err)
	}
	return nil
}

// resultKeys lists the job's batch results objects, in key order.
func (s *Sender) resultKeys(ctx context.Context, tenant, job string) ([]string, error) {
	prefix := jobfiles.ResultsPrefix(tenant, job)
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.JobsBucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list results of job %s/%s: %w", tenant, job, err)
		}
		for _, obj := range page.Contents {
			if key := aws.ToString(obj.Key); strings.HasSuffix(key, ".json") {
				keys = append(keys, key)
			}
		}
	}
	return keys, nil
}

func isNotFound(err error) bool {
	var nsk *s3types.NoSuchKey
	var nf *s3types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf)
}
