package portal

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/welcomejob"
)

// JobRows reads a job's rows as its report shows them; *finalize.Handler
// satisfies it.
type JobRows interface {
	Rows(ctx context.Context, in events.FinalizeInput, welcome pbx.WelcomeMode) ([]events.RowResult, error)
}

// EmailSender sends a job's welcome emails on request; *welcomejob.Sender
// satisfies it (the code path of `bulkprov send-welcome`).
type EmailSender interface {
	Send(ctx context.Context, req welcomejob.Request) (welcomejob.Result, error)
}

// Row statuses the job view adds to the report's: a row of a running job
// whose batch has not finished yet.
const statusPending = "pending"

// Email states of the job view: the report's email_status, with the
// uncertain ones apart (they need a confirmation to resend).
const (
	emailUncertain = "uncertain"
	emailHeld      = "held" // deferred: welcome=none, waiting to be released
)

// JobUser is one row of a job as the job view shows it.
type JobUser struct {
	Line             int      `json:"line"`
	Extension        string   `json:"extension"`
	Name             string   `json:"name,omitempty"`
	User             string   `json:"user,omitempty"`
	Email            string   `json:"email,omitempty"`
	Status           string   `json:"status"`
	Code             string   `json:"code,omitempty"`
	Message          string   `json:"message,omitempty"`
	Warnings         []string `json:"warnings,omitempty"`
	PhoneModel       string   `json:"phone_model,omitempty"`
	MAC              string   `json:"mac,omitempty"`
	ProvisioningFile string   `json:"provisioning_file,omitempty"`
	// EmailStatus: sent | already_sent | held | failed | uncertain | "" (none).
	EmailStatus string `json:"email_status,omitempty"`
	// CanSend: the welcome email can be sent (held or failed) or resent
	// after a confirmation (uncertain) from the job view.
	CanSend bool `json:"can_send"`
}

// JobUsers is GET /jobs/{id}/users' answer: one page of the job's rows.
type JobUsers struct {
	Job    string    `json:"job"`
	Total  int       `json:"total"` // rows matching the filter
	Offset int       `json:"offset"`
	Limit  int       `json:"limit"`
	Users  []JobUser `json:"users"`
	// ByStatus and ByEmail count all the job's rows (before filtering).
	ByStatus map[string]int `json:"by_status"`
	ByEmail  map[string]int `json:"by_email"`
	// HeldEmails counts emails waiting to be sent (held or failed);
	// POST /jobs/{id}/welcome sends them.
	HeldEmails int `json:"held_emails"`
}

const (
	defaultUsersLimit = 50
	maxUsersLimit     = 500
)

func (h *Handler) jobRows(ctx context.Context, tenant string, j jobmodel.Job) ([]JobUser, error) {
	if h.deps.Rows == nil {
		return nil, errorf(http.StatusNotImplemented, codeNotAvailable, "job details are not available on this server")
	}
	rows, err := h.deps.Rows.Rows(ctx, events.FinalizeInput{Tenant: tenant, Job: j.ID, JobsBucket: h.cfg.JobsBucket}, j.Options.Welcome)
	if err != nil {
		return nil, err
	}
	out := make([]JobUser, len(rows))
	for i, r := range rows {
		out[i] = jobUser(r, jobmodel.Terminal(j.Status))
	}
	return out, nil
}

func jobUser(r events.RowResult, finished bool) JobUser {
	u := JobUser{
		Line: r.Line, Extension: r.Extension, Name: r.Name, User: r.User, Email: r.Email, Status: r.Status,
		Code: r.Code, Message: r.Message, Warnings: r.Warnings, PhoneModel: r.PhoneModel, MAC: r.MAC,
		ProvisioningFile: r.ProvisioningFile, EmailStatus: r.EmailStatus,
	}
	if !finished && r.Status == events.StatusFailed && r.Code == pbx.CodeBatchFailed {
		// Not failed: its batch is still running.
		u.Status, u.Code, u.Message = statusPending, "", ""
	}
	switch {
	case r.EmailStatus == events.EmailDeferred:
		u.EmailStatus = emailHeld
	case r.EmailStatus == events.EmailFailed && strings.Contains(r.Code+" "+r.Message, pbx.CodeEmailUncertain):
		u.EmailStatus = emailUncertain
		// The report's message names the CLI; the portal has its own way.
		u.Message = "the sending was interrupted: the email may or may not have been delivered; resend it only if the user did not get it"
	}
	u.CanSend = finished && r.Status == events.StatusCreated && r.Email != "" &&
		(u.EmailStatus == emailHeld || u.EmailStatus == events.EmailFailed || u.EmailStatus == emailUncertain)
	return u
}

func (h *Handler) jobUsers(ctx context.Context, r *request) (any, error) {
	j, err := h.job(ctx, r.tenant, r.query[":id"])
	if err != nil {
		return nil, err
	}
	limit, err := intParam(r, "limit", defaultUsersLimit, 1, maxUsersLimit)
	if err != nil {
		return nil, err
	}
	offset, err := intParam(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return nil, err
	}
	statuses, err := listParam(r, "status", []string{events.StatusCreated, events.StatusUpdated, events.StatusSkipped,
		events.StatusFailed, events.StatusInvalid, events.StatusHeld, statusPending})
	if err != nil {
		return nil, err
	}
	emails, err := listParam(r, "email", []string{events.EmailSent, events.EmailAlready, emailHeld, events.EmailFailed, emailUncertain, "none"})
	if err != nil {
		return nil, err
	}
	all, err := h.jobRows(ctx, r.tenant, j)
	if err != nil {
		return nil, err
	}
	out := JobUsers{Job: j.ID, Offset: offset, Limit: limit, Users: []JobUser{}, ByStatus: map[string]int{}, ByEmail: map[string]int{}}
	for _, u := range all {
		out.ByStatus[u.Status]++
		email := u.EmailStatus
		if email == "" {
			email = "none"
		}
		out.ByEmail[email]++
		if u.CanSend && u.EmailStatus != emailUncertain {
			out.HeldEmails++
		}
		if (len(statuses) > 0 && !slices.Contains(statuses, u.Status)) || (len(emails) > 0 && !slices.Contains(emails, email)) {
			continue
		}
		if out.Total >= offset && len(out.Users) < limit {
			out.Users = append(out.Users, u)
		}
		out.Total++
	}
	return out, nil
}

func intParam(r *request, name string, def, lo, hi int) (int, error) {
	s, ok := r.query[name]
	if !ok || s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fieldError(pbx.EINVALID, name, "%s must be a whole number from %d to %d", name, lo, hi)
	}
	return n, nil
}

// listParam reads a comma-separated filter whose values must be known.
func listParam(r *request, name string, known []string) ([]string, error) {
	s := r.query[name]
	if s == "" {
		return nil, nil
	}
	var out []string
	for _, v := range strings.Split(s, ",") {
		if !slices.Contains(known, v) {
			return nil, fieldError(pbx.EINVALID, name, "%s must be one or more of %s", name, strings.Join(known, ", "))
		}
		out = append(out, v)
	}
	return out, nil
}

// WelcomeRequest is POST /jobs/{id}/welcome's optional body.
type WelcomeRequest struct {
	// After continues a send that ran out of time (the previous answer's Next).
	After string `json:"after,omitempty"`
}

// ResendRequest is POST /jobs/{id}/users/{extension}/welcome's optional body.
type ResendRequest struct {
	// ConfirmUncertain: the admin knows the earlier email may have been
	// delivered, and sends it again anyway.
	ConfirmUncertain bool `json:"confirm_uncertain,omitempty"`
}

// WelcomeResult is the answer of both send endpoints.
type WelcomeResult struct {
	Sent        int `json:"sent"`
	AlreadySent int `json:"already_sent"`
	Failed      int `json:"failed"`
	Uncertain   int `json:"uncertain"`
	// Held: not sent because a daily quota (the email service's or the
	// tenant's email.daily_quota) is used up; send again later.
	Held int `json:"held"`
	// Next is set when the request's time ran out before every batch:
	// POST again with {"after": next} to go on.
	Next string `json:"next,omitempty"`
	// User is the resent user's row afterwards (resend only).
	User *JobUser `json:"user,omitempty"`
}

func (h *Handler) emails() (EmailSender, error) {
	if h.deps.Emails == nil {
		return nil, errorf(http.StatusNotImplemented, codeNotAvailable, "sending emails is not available on this server")
	}
	return h.deps.Emails, nil
}

// sendableJob reads a job whose emails may be sent now: the workflow is
// over (no phase 2 running alongside) and it created users.
func (h *Handler) sendableJob(ctx context.Context, r *request) (jobmodel.Job, error) {
	j, err := h.job(ctx, r.tenant, r.query[":id"])
	if err != nil {
		return jobmodel.Job{}, err
	}
	switch j.Status {
	case jobmodel.Done, jobmodel.Partial, jobmodel.Failed:
		return j, nil
	case jobmodel.Rejected, jobmodel.DryRun, jobmodel.Held:
		return jobmodel.Job{}, errorf(http.StatusConflict, codeNoEmail, "this job created no users, so it has no emails to send")
	}
	return jobmodel.Job{}, errorf(http.StatusConflict, codeNotReady, "the job is still running; send emails once it has finished")
}

// optionalBody decodes an optional JSON body into v.
func optionalBody(r *request, v any) error {
	if len(strings.TrimSpace(string(r.body))) == 0 {
		return nil
	}
	return decodeJSON(r, v)
}

func (h *Handler) sendJobWelcome(ctx context.Context, r *request) (any, error) {
	var req WelcomeRequest
	if err := optionalBody(r, &req); err != nil {
		return nil, err
	}
	if req.After != "" && !strings.HasPrefix(req.After, jobfiles.ResultsPrefix(r.tenant, r.query[":id"])) {
		return nil, fieldError(pbx.EINVALID, "after", "after must be the next value of a previous answer")
	}
	sender, err := h.emails()
	if err != nil {
		return nil, err
	}
	j, err := h.sendableJob(ctx, r)
	if err != nil {
		return nil, err
	}
	res, err := sender.Send(ctx, welcomejob.Request{Tenant: r.tenant, Job: j.ID, After: req.After})
	if err != nil {
		return nil, sendError(err)
	}
	h.log.InfoContext(ctx, "welcome emails released", "tenant", r.tenant, "job", j.ID, "sent", res.Total.Sent,
		"failed", res.Total.Failed, "uncertain", res.Total.Uncertain, "held", res.Total.Held, "more", res.Next != "")
	return WelcomeResult{Sent: res.Total.Sent, AlreadySent: res.Total.AlreadySent, Failed: res.Total.Failed,
		Uncertain: res.Total.Uncertain, Held: res.Total.Held, Next: res.Next}, nil
}

func (h *Handler) resendWelcome(ctx context.Context, r *request) (any, error) {
	var req ResendRequest
	if err := optionalBody(r, &req); err != nil {
		return nil, err
	}
	sender, err := h.emails()
	if err != nil {
		return nil, err
	}
	j, err := h.sendableJob(ctx, r)
	if err != nil {
		return nil, err
	}
	ext := r.query[":extension"]
	user, err := h.jobUser(ctx, r.tenant, j, ext)
	if err != nil {
		return nil, err
	}
	switch {
	case user.Status != events.StatusCreated || user.Email == "":
		return nil, errorf(http.StatusConflict, codeNoEmail, "extension %s gets no welcome email from this job (it was not created by it, or has no email address)", ext)
	case user.EmailStatus == events.EmailSent || user.EmailStatus == events.EmailAlready:
		return nil, errorf(http.StatusConflict, pbx.ECONFLICT,
			"extension %s already got its welcome email; its one-time credentials are not kept after sending, so it cannot be sent again", ext)
	case user.EmailStatus == emailUncertain && !req.ConfirmUncertain:
		return nil, errorf(http.StatusConflict, codeConfirm,
			"the earlier email to %s may have been delivered (the attempt was interrupted); confirm to send it again, the user may get two", user.Email)
	}
	res, err := sender.Send(ctx, welcomejob.Request{Tenant: r.tenant, Job: j.ID, Extension: ext, ResendUncertain: req.ConfirmUncertain})
	if err != nil {
		return nil, sendError(err)
	}
	h.log.InfoContext(ctx, "welcome email resent", "tenant", r.tenant, "job", j.ID, "extension", ext,
		"sent", res.Total.Sent, "confirmed_uncertain", req.ConfirmUncertain)
	after, err := h.jobUser(ctx, r.tenant, j, ext)
	if err != nil {
		return nil, err
	}
	return WelcomeResult{Sent: res.Total.Sent, AlreadySent: res.Total.AlreadySent, Failed: res.Total.Failed,
		Uncertain: res.Total.Uncertain, Held: res.Total.Held, User: &after}, nil
}

// jobUser finds the row of extension ext in the job; a missing one is 404
// like a missing job.
func (h *Handler) jobUser(ctx context.Context, tenant string, j jobmodel.Job, ext string) (JobUser, error) {
	rows, err := h.jobRows(ctx, tenant, j)
	if err != nil {
		return JobUser{}, err
	}
	for _, u := range rows {
		if u.Extension == ext && u.Status != events.StatusInvalid {
			return u, nil
		}
	}
	return JobUser{}, errorf(http.StatusNotFound, pbx.ENOTFOUND, "no such user in this job")
}

// sendError maps the sender's not-found (a job with no results) to 409: the
// job exists, it has nothing to send.
func sendError(err error) error {
	if pbx.ErrorCode(err) == pbx.ENOTFOUND {
		return errorf(http.StatusConflict, codeNoEmail, "%s", pbx.ErrorMessage(err))
	}
	return err
}
