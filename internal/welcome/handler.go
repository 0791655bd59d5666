package welcome

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/time/rate"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// Purpose is the ledger purpose and SES tag of the welcome email.
const Purpose = "welcome"

// Messages of held emails (code email_held_quota).
const (
	heldAccountMessage = "held: the email service's 24-hour sending quota is used up; run bulkprov send-welcome later to send it"
	heldTenantMessage  = "held: the tenant's daily welcome-email quota (email.daily_quota) is used up; run bulkprov send-welcome tomorrow to send it"
)

const uncertainMessage = "an earlier attempt was interrupted while sending: the email may or may not have been delivered; " +
	"run bulkprov send-welcome --resend-uncertain to send it again"

// Defaults of the Handler's knobs.
const (
	DefaultChunkSize   = 25 // emails reserved at once: the most a crash can leave uncertain
	DefaultWorkers     = 4  // concurrent SES calls, still under the rate limit
	DefaultMaxAttempts = 6  // per email, throttling only
	DefaultBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	// DefaultDeadlineMargin is kept free before the Lambda's deadline: a
	// chunk is not started (nor reserved) without it.
	DefaultDeadlineMargin = 10 * time.Second
)

// ObjectStore is the part of *s3.Client the handler uses.
type ObjectStore interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Ledger is the part of *store.Store the handler uses: the sealed
// credentials and the email ledger.
type Ledger interface {
	GetCredentials(ctx context.Context, tenant string, sipUsers []string) (map[string]pbx.Credentials, error)
	GrantDailyEmails(ctx context.Context, tenant string, now time.Time, want, limit int) (int, error)
	ReturnDailyEmails(ctx context.Context, tenant string, granted time.Time, n int) error
	ReserveEmails(ctx context.Context, tenant string, rs []store.EmailReservation) ([]store.ReserveResult, error)
	FinishEmails(ctx context.Context, tenant string, outcomes []store.EmailOutcome) error
	PutInvites(ctx context.Context, tenant string, invites []store.Invite) error
}

// Opener opens sealed credentials; *secrets.Box satisfies it.
type Opener interface {
	Open(ctx context.Context, tenant string, v secrets.Sealed, binding string) ([]byte, error)
}

// SettingsFunc returns a job's effective settings: system defaults, the
// tenant's settings and the job's upload options (welcome mode).
type SettingsFunc func(ctx context.Context, tenant, job string) (pbx.Settings, error)

// Handler is send-welcome: it sends the welcome emails of one batch.
//
// Flow per batch: read the batch's results object; keep the rows created
// with an email address; in welcome=none mode record them deferred and stop
// (unless SendDeferred); otherwise read the account's send rate once, the
// batch's sealed credentials in one BatchGetItem, write the invite items of
// the tokens to deliver (BatchWriteItem, 25 a call), and then, chunk by chunk
// (ChunkSize rows): reserve the chunk's ledger entries with one
// BatchExecuteStatement of conditional updates, render and send each
// reserved email through SES (Workers in parallel, never above
// MaxSendRate/Concurrency), then mark the chunk SENT (dropping each sent
// user's sealed portal credential) or FAILED the same way. The ledger lives
// on each endpoint's SECRET item, so reserving and closing write one item
// per row each, as single-item conditional writes (no transaction: no two
// emails need to be recorded together). Finally write the outcomes to
// jobfiles.EmailResultKey. DynamoDB calls per row: 1/100 (credentials) +
// 1/25 (invites, welcome=invite) + 2/ChunkSize (reserve, finish), about 0.13
// with the defaults; write units per row: 1 (invite) + 1 + 1 (the SECRET
// item's ledger, reserved and closed).
//
// At-most-once decision: an email is sent only under a reservation, and a
// reservation that was never closed (the process died between the
// reservation and recording SES's answer, or SES's answer was lost: a
// timeout, a 5xx, a broken connection) is never sent again automatically.
// Such a row is reported failed with code email_uncertain, and only
// `bulkprov send-welcome --resend-uncertain` (Options.ResendUncertain) takes
// the reservation over. The window is one chunk: at most ChunkSize emails
// of an invocation can become uncertain when it dies. SDK retries are off
// for SendEmail for the same reason; throttling (which SES answers before
// accepting anything) is retried with backoff.
type Handler struct {
	S3       ObjectStore
	Store    Ledger
	Secrets  Opener
	SES      Mailer
	Settings SettingsFunc
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now

	ChunkSize   int
	Workers     int
	MaxAttempts int
	Backoff     time.Duration
	MaxBackoff  time.Duration
	// DeadlineMargin: DefaultDeadlineMargin when 0 (a local run with a
	// faster clock scales it).
	DeadlineMargin time.Duration
}

// Options adjust one run; the Lambda uses the zero value.
type Options struct {
	// SendDeferred sends even when the job's welcome mode is none: the
	// admin's later `bulkprov send-welcome`.
	SendDeferred bool
	// ResendUncertain takes over reservations whose outcome is unknown.
	ResendUncertain bool
	// Extension limits the run to the one user of the batch with this
	// extension (the portal's resend); the batch's other email outcomes
	// are kept as they were. A batch without that user is left untouched.
	Extension string
}

// Handle is the Lambda entry point.
func (h *Handler) Handle(ctx context.Context, in events.WelcomeInput) (events.WelcomeOutput, error) {
	return h.Send(ctx, in, Options{})
}

// rowWork is one row's email as it moves through the steps.
type rowWork struct {
	row    events.RowResult
	result events.RowResult // the row's email outcome
	kind   int              // sendOK, sendRefused, ... once sent
}

// Send sends the welcome emails of one batch results object. With
// opt.Extension, an output that Handled no row means the user is not in
// this batch (nothing was written).
func (h *Handler) Send(ctx context.Context, in events.WelcomeInput, opt Options) (events.WelcomeOutput, error) {
	if err := pbx.ValidateTenantName(in.Tenant); err != nil {
		return events.WelcomeOutput{}, err
	}
	if in.Job == "" || !strings.HasPrefix(in.Key, jobfiles.ResultsPrefix(in.Tenant, in.Job)) {
		return events.WelcomeOutput{}, pbx.Errorf(pbx.EINVALID, "key", "results object %q is not under job %s of tenant %s", in.Key, in.Job, in.Tenant)
	}
	log := h.logger().With("tenant", in.Tenant, "job", in.Job)
	batch, err := h.readBatch(ctx, in)
	if err != nil {
		return events.WelcomeOutput{}, err
	}
	log = log.With("batch", batch.Batch)
	out := events.WelcomeOutput{Tenant: in.Tenant, Job: in.Job, Batch: batch.Batch, EmailKey: jobfiles.EmailResultKey(in.Tenant, in.Job, batch.Batch)}

	work := eligible(batch.Rows)
	var kept []events.RowResult
	if opt.Extension != "" {
		if work = withExtension(work, opt.Extension); len(work) == 0 {
			return out, nil
		}
		if kept, err = h.otherResults(ctx, in, out.EmailKey, opt.Extension); err != nil {
			return events.WelcomeOutput{}, err
		}
	}
	if len(work) > 0 {
		settings, err := h.Settings(ctx, in.Tenant, in.Job)
		if err != nil {
			return events.WelcomeOutput{}, fmt.Errorf("settings of job %s/%s: %w", in.Tenant, in.Job, err)
		}
		if settings.Upload.Welcome == pbx.WelcomeNone && !opt.SendDeferred {
			for _, w := range work {
				w.result.EmailStatus = events.EmailDeferred
			}
		} else if err := h.sendAll(ctx, log, in, settings, work, opt); err != nil {
			return events.WelcomeOutput{}, err
		}
	}

	rows := tally(&out, work)
	rows = append(rows, kept...)
	slices.SortFunc(rows, func(a, b events.RowResult) int { return a.Line - b.Line })
	if err := h.writeResults(ctx, in, batch.Batch, out.EmailKey, rows); err != nil {
		return events.WelcomeOutput{}, err
	}
	log.InfoContext(ctx, "welcome emails", "sent", out.Sent, "already_sent", out.AlreadySent, "failed", out.Failed,
		"uncertain", out.Uncertain, "deferred", out.Deferred, "held", out.Held)
	return out, nil
}

// withExtension returns the work of the user with extension ext.
func withExtension(work []*rowWork, ext string) []*rowWork {
	var one []*rowWork
	for _, w := range work {
		if w.row.Extension == ext {
			one = append(one, w)
		}
	}
	return one
}

// tally counts each row's outcome in out, once (see
// events.WelcomeOutput.Handled), and returns the rows' results.
func tally(out *events.WelcomeOutput, work []*rowWork) []events.RowResult {
	rows := make([]events.RowResult, len(work))
	for i, w := range work {
		rows[i] = w.result
		switch {
		case w.result.EmailStatus == events.EmailSent:
			out.Sent++
		case w.result.EmailStatus == events.EmailAlready:
			out.AlreadySent++
		case w.result.EmailStatus == events.EmailDeferred:
			out.Deferred++
		case w.result.EmailStatus == events.EmailHeld:
			out.Held++
		case w.result.Code == pbx.CodeEmailUncertain:
			out.Uncertain++
			out.Failed++
		default:
			out.Failed++
		}
	}
	return rows
}

// eligible returns the rows that get a welcome email: created by this job,
// with an address, once per portal user.
func eligible(rows []events.RowResult) []*rowWork {
	var work []*rowWork
	seen := map[string]bool{}
	for _, r := range rows {
		if r.Status != events.StatusCreated || r.Email == "" || r.User == "" || r.SIPUser == "" || seen[r.User] {
			continue
		}
		seen[r.User] = true
		work = append(work, &rowWork{row: r, result: events.RowResult{
			Line: r.Line, Extension: r.Extension, User: r.User, Email: r.Email, Status: r.Status,
		}})
	}
	return work
}

// hold marks the row's email held by a daily quota: not sent, not failed.
func (w *rowWork) hold(message string) {
	w.kind = sendHeld
	w.result.EmailStatus = events.EmailHeld
	w.result.Code = pbx.CodeEmailHeldQuota
	w.result.Message = message
}

func (w *rowWork) fail(code, message string) {
	w.result.EmailStatus = events.EmailFailed
	w.result.Code = code
	w.result.Message = message
}

// sendAll sends the rows' emails chunk by chunk, filling each row's result.
func (h *Handler) sendAll(ctx context.Context, log *slog.Logger, in events.WelcomeInput, s pbx.Settings, work []*rowWork, opt Options) error {
	from, tpl, err := emailSettings(in, s)
	if err != nil {
		// Configuration problems fail every row's email with the reason;
		// they are not retried (a retry would fail the same way).
		log.ErrorContext(ctx, "welcome emails not sent: settings", "err", err)
		for _, w := range work {
			w.fail(pbx.ErrorCode(err), "welcome email settings: "+pbx.ErrorMessage(err))
		}
		return nil
	}
	env, err := h.newSendEnv(ctx, in, s, work, opt)
	if err != nil {
		return err
	}
	env.from, env.tpl = from, tpl

	chunkSize := min(orDefault(h.ChunkSize, DefaultChunkSize), 100) // one ledger item per row, ≤ 100 per transaction
	blocked := ""
	for start := 0; start < len(work); start += chunkSize {
		chunk := work[start:min(start+chunkSize, len(work))]
		if blocked != "" {
			for _, w := range chunk {
				w.fail(pbx.CodeEmailRejected, blocked)
			}
			continue
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < orDefaultDuration(h.DeadlineMargin, DefaultDeadlineMargin)+chunkDuration(len(chunk), env.sender.limiter.Limit()) {
			// Retried by the workflow: rows done so far are recorded in the
			// ledger and come back as sent.
			return fmt.Errorf("welcome emails of %s/%s: not enough time left for the next %d emails", in.Tenant, in.Job, len(chunk))
		}
		if blocked, err = h.sendChunk(ctx, log, env, chunk); err != nil {
			return err
		}
	}
	return nil
}

// emailSettings checks the job's email settings and parses its sender
// and templates.
func emailSettings(in events.WelcomeInput, s pbx.Settings) (*mail.Address, *Templates, error) {
	from, err := ParseFrom(s.Email.From)
	if err != nil {
		return nil, nil, err
	}
	if err := firstError(checkTag("tenant", in.Tenant), checkTag("job", in.Job)); err != nil {
		return nil, nil, err
	}
	tpl, err := ParseTemplates(s.Email)
	if err != nil {
		return nil, nil, err
	}
	if s.Email.ConfigurationSet != "" {
		if err := checkTag("email.configuration_set", s.Email.ConfigurationSet); err != nil {
			return nil, nil, err
		}
	}
	return from, tpl, nil
}

// newSendEnv reads what every chunk of the run shares: the account's send
// rate and quota, the rows' sealed credentials (after writing the invites
// they deliver) and a new attempt id.
func (h *Handler) newSendEnv(ctx context.Context, in events.WelcomeInput, s pbx.Settings, work []*rowWork, opt Options) (*sendEnv, error) {
	quota, err := sendQuota(ctx, h.SES, in.Concurrency)
	if err != nil {
		return nil, err
	}
	snd := &sender{
		ses: h.SES, limiter: rate.NewLimiter(quota.rate, 1),
		maxAttempts: orDefault(h.MaxAttempts, DefaultMaxAttempts),
		backoff:     orDefaultDuration(h.Backoff, DefaultBackoff),
		maxBackoff:  orDefaultDuration(h.MaxBackoff, DefaultMaxBackoff),
	}
	sipUsers := make([]string, len(work))
	for i, w := range work {
		sipUsers[i] = w.row.SIPUser
	}
	creds, err := h.Store.GetCredentials(ctx, in.Tenant, sipUsers)
	if err != nil {
		return nil, fmt.Errorf("welcome credentials: %w", err)
	}
	if err := h.putInvites(ctx, in, s, work, creds); err != nil {
		return nil, err
	}
	attempt, err := newAttempt()
	if err != nil {
		return nil, err
	}
	tags := map[string]string{"tenant": in.Tenant, "job": in.Job, "purpose": Purpose}
	return &sendEnv{in: in, settings: s, creds: creds, tags: tags, attempt: attempt, opt: opt, sender: snd,
		accountLeft: quota.daily}, nil
}

// putInvites writes the INVITE# items of the rows whose portal credential
// is an invite token still to be delivered, before any of them is sent:
// every email that may have gone out has its invite, whatever crashes
// later. Rows already sent have no portal credential left and are skipped;
// a token that does not open is skipped here and fails its row in build.
// Credentials without InviteExpires were written with their INVITE# item
// by an older create-records.
//
// The invite expires at the later of the stored expiry (create time + TTL)
// and now + TTL: an email deferred (welcome=none) and sent days later
// promises "valid for invite_ttl_hours" and must keep that promise.
func (h *Handler) putInvites(ctx context.Context, in events.WelcomeInput, s pbx.Settings, work []*rowWork, creds map[string]pbx.Credentials) error {
	earliest := h.now().Add(time.Duration(s.Email.InviteTTLHours) * time.Hour)
	var invites []store.Invite
	for _, w := range work {
		c, ok := creds[w.row.SIPUser]
		if !ok || c.Portal == nil || c.PortalKind != pbx.WelcomeInvite || c.InviteExpires == 0 {
			continue
		}
		token, err := h.Secrets.Open(ctx, in.Tenant, *c.Portal, pbx.PortalBinding(w.row.SIPUser))
		if err != nil {
			continue
		}
		invites = append(invites, store.Invite{Hash: secrets.InviteHash(string(token)), User: w.row.User,
			SIPUser: w.row.SIPUser, Job: in.Job, Expires: laterOf(time.Unix(c.InviteExpires, 0), earliest)})
	}
	if len(invites) == 0 {
		return nil
	}
	if err := h.Store.PutInvites(ctx, in.Tenant, invites); err != nil {
		return fmt.Errorf("welcome invites: %w", err)
	}
	return nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// chunkDuration is how long a chunk takes at the rate limit.
func chunkDuration(n int, limit rate.Limit) time.Duration {
	if limit <= 0 {
		return 0
	}
	return time.Duration(float64(n) / float64(limit) * float64(time.Second))
}

// sendEnv is what every chunk of one run shares.
type sendEnv struct {
	in       events.WelcomeInput
	settings pbx.Settings
	from     *mail.Address
	tpl      *Templates
	creds    map[string]pbx.Credentials
	tags     map[string]string
	attempt  string
	opt      Options
	sender   *sender
	// accountLeft is what this run may still send of the SES account's
	// 24-hour quota (-1: no bound); once 0, the rest is held.
	accountLeft int
}
