package welcome

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// finishTimeout bounds recording a chunk's outcomes after the invocation's
// context ended: a sent email left RESERVED would be reported uncertain.
const finishTimeout = 5 * time.Second

// sendChunk reserves, renders, sends and records one chunk. It returns a
// non-empty message when the account cannot send, so the caller stops.
func (h *Handler) sendChunk(ctx context.Context, log *slog.Logger, env *sendEnv, chunk []*rowWork) (string, error) {
	now := h.now()
	reserved, err := h.reserve(ctx, log, env, chunk, now)
	if err != nil {
		return "", err
	}

	// The daily quotas cover the first n; the rest is held (released as
	// FAILED in the ledger with code email_held_quota, so send-welcome sends
	// it later), not failed.
	grantedAt := h.now()
	n, heldMsg, quotaErr := h.grant(ctx, env, grantedAt, len(reserved))
	if quotaErr != nil {
		n, heldMsg = 0, "not sent: the tenant's daily email quota could not be read; it is sent when the step is retried"
	}
	toSend := reserved[:n]
	for _, w := range reserved[n:] {
		w.hold(heldMsg)
	}

	accountOut := h.sendReserved(ctx, log, env, toSend, now)
	h.returnUnsent(ctx, log, env, grantedAt, toSend, accountOut)
	blocked := h.finish(ctx, log, env, reserved)
	if quotaErr != nil {
		// Nothing of this chunk was sent and its reservations are released:
		// the workflow's retry sends it.
		return "", fmt.Errorf("welcome emails of %s/%s: %w", env.in.Tenant, env.in.Job, quotaErr)
	}
	return blocked, nil
}

// reserve takes the chunk's ledger entries and returns the rows reserved
// for this run; the others get their outcome here (already sent, no
// credentials, or uncertain and not resent).
func (h *Handler) reserve(ctx context.Context, log *slog.Logger, env *sendEnv, chunk []*rowWork, now time.Time) ([]*rowWork, error) {
	rs := make([]store.EmailReservation, len(chunk))
	for i, w := range chunk {
		rs[i] = store.EmailReservation{
			User: w.row.User, SIPUser: w.row.SIPUser, Purpose: Purpose, Job: env.in.Job, Line: w.row.Line,
			Attempt: env.attempt, At: now, TakeOver: env.opt.ResendUncertain,
		}
	}
	res, err := h.Store.ReserveEmails(ctx, env.in.Tenant, rs)
	if err != nil {
		return nil, fmt.Errorf("reserve welcome emails: %w", err)
	}
	var reserved []*rowWork
	for i, r := range res {
		w := chunk[i]
		if r.Reserved {
			reserved = append(reserved, w)
			continue
		}
		switch e := r.Existing; e.Status {
		case store.LedgerSent:
			// Sent by this job (a replay) or by an earlier one: never again.
			w.result.EmailStatus = events.EmailAlready
			if e.Job == env.in.Job {
				w.result.EmailStatus = events.EmailSent
			}
			w.result.EmailMessageID = e.MessageID
		case "":
			// No SECRET item: nothing to deliver, and nothing was reserved.
			w.fail(pbx.EINTERNAL, "the user's credentials are missing (never created, or the endpoint was removed)")
		default:
			w.fail(pbx.CodeEmailUncertain, uncertainMessage)
			log.WarnContext(ctx, "welcome email outcome unknown, not resent", "row", w.row.Line,
				"reserved_by_job", e.Job, "reserved_at", e.AttemptAt)
		}
	}
	return reserved, nil
}

// chunkSend is what the parallel sends of one chunk share: once SES says
// the account cannot send (stopped) or its 24-hour quota is used up
// (quotaOut), the sends not yet started do not try.
type chunkSend struct {
	stopped  atomic.Value // the account's refusal message
	quotaOut atomic.Bool
}

// sendReserved renders and sends the granted rows, Workers at a time, and
// reports whether SES said the account's 24-hour quota is used up.
func (h *Handler) sendReserved(ctx context.Context, log *slog.Logger, env *sendEnv, toSend []*rowWork, now time.Time) bool {
	var wg sync.WaitGroup
	var cs chunkSend
	slots := make(chan struct{}, orDefault(h.Workers, DefaultWorkers))
	for _, w := range toSend {
		raw, err := h.build(ctx, env, w, now)
		if err != nil {
			w.kind = sendRefused
			w.fail(pbx.ErrorCode(err), pbx.ErrorMessage(err))
			log.WarnContext(ctx, "welcome email not built", "row", w.row.Line, "err", err)
			continue
		}
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			cs.send(ctx, log, env, w, raw)
		}()
	}
	wg.Wait()
	return cs.quotaOut.Load()
}

// send sends one row's email and records its outcome on w.
func (cs *chunkSend) send(ctx context.Context, log *slog.Logger, env *sendEnv, w *rowWork, raw []byte) {
	if msg, _ := cs.stopped.Load().(string); msg != "" {
		// The account cannot send: do not try, release the reservation.
		w.kind = sendRefused
		w.fail(pbx.CodeEmailRejected, msg)
		return
	}
	if cs.quotaOut.Load() {
		w.hold(heldAccountMessage)
		return
	}
	id, err := env.sender.send(ctx, sendInput(env.from.Address, env.settings.Email.ConfigurationSet, w.row.Email, raw, env.tags))
	if err == nil {
		w.kind = sendOK
		w.result.EmailStatus = events.EmailSent
		w.result.EmailMessageID = id
		return
	}
	se := classifyLocal(err)
	if se.kind == sendHeld {
		cs.quotaOut.Store(true)
		w.hold(se.message)
		return
	}
	w.kind = se.kind
	if se.kind == sendBlocked {
		cs.stopped.Store(se.message)
	}
	w.fail(se.code, se.message)
	log.WarnContext(ctx, "welcome email not sent", "row", w.row.Line, "code", se.code, "err", err)
}

// finish records the reserved rows' outcomes in the ledger (uncertain ones
// stay RESERVED) and returns the account's refusal, if SES gave one.
func (h *Handler) finish(ctx context.Context, log *slog.Logger, env *sendEnv, reserved []*rowWork) (blocked string) {
	var outcomes []store.EmailOutcome
	for _, w := range reserved {
		o := store.EmailOutcome{SIPUser: w.row.SIPUser, Purpose: Purpose, Attempt: env.attempt, At: h.now()}
		switch w.kind {
		case sendOK:
			o.Sent, o.MessageID = true, w.result.EmailMessageID
		case sendUncertain:
			continue // stays RESERVED: never resent automatically
		case sendBlocked:
			blocked = w.result.Message
			fallthrough
		default:
			o.Code, o.Message = w.result.Code, w.result.Message
		}
		outcomes = append(outcomes, o)
	}
	if len(outcomes) == 0 {
		return blocked
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := h.Store.FinishEmails(fctx, env.in.Tenant, outcomes); err != nil {
		// The emails went out; the report says so. Their ledger items
		// stay RESERVED, so nothing resends them.
		log.ErrorContext(ctx, "welcome emails sent but not recorded in the ledger", "emails", len(outcomes), "err", err)
	}
	return blocked
}

// grant returns how many of want emails the daily quotas cover now: this
// run's share of the SES account's 24-hour quota, then the tenant's
// email.daily_quota (counted in the table, shared by every sender of the
// tenant). heldMsg names the quota that ran out.
func (h *Handler) grant(ctx context.Context, env *sendEnv, now time.Time, want int) (n int, heldMsg string, err error) {
	n = want
	if env.accountLeft >= 0 && n > env.accountLeft {
		n, heldMsg = env.accountLeft, heldAccountMessage
	}
	if limit := env.settings.Email.DailyQuota; limit > 0 && n > 0 {
		got, err := h.Store.GrantDailyEmails(ctx, env.in.Tenant, now, n, limit)
		if err != nil {
			return 0, "", err
		}
		if got < n {
			n, heldMsg = got, heldTenantMessage
		}
	}
	if env.accountLeft >= 0 {
		env.accountLeft -= n
	}
	return n, heldMsg, nil
}

// returnUnsent gives back the quota of granted emails that did not go out
// (refused, not built, held by SES itself). Uncertain ones count as sent.
func (h *Handler) returnUnsent(ctx context.Context, log *slog.Logger, env *sendEnv, grantedAt time.Time, granted []*rowWork, accountOut bool) {
	unsent := 0
	for _, w := range granted {
		if w.kind != sendOK && w.kind != sendUncertain {
			unsent++
		}
	}
	switch {
	case accountOut:
		env.accountLeft = 0
	case env.accountLeft >= 0:
		env.accountLeft += unsent
	}
	if env.settings.Email.DailyQuota > 0 && unsent > 0 {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		if err := h.Store.ReturnDailyEmails(rctx, env.in.Tenant, grantedAt, unsent); err != nil {
			// Only today's quota is smaller than it should be.
			log.WarnContext(ctx, "daily email quota not given back", "emails", unsent, "err", err)
		}
	}
}

// classifyLocal returns err as a *sendError (the sender's errors are).
func classifyLocal(err error) *sendError {
	var se *sendError
	if errors.As(err, &se) {
		return se
	}
	return classifySendError(err)
}

// build opens the row's credentials and renders its raw message.
func (h *Handler) build(ctx context.Context, env *sendEnv, w *rowWork, now time.Time) ([]byte, error) {
	tenant, row := env.in.Tenant, w.row
	c, ok := env.creds[row.SIPUser]
	if !ok || c.Portal == nil {
		return nil, pbx.Errorf(pbx.EINTERNAL, "credentials", "the user's portal credential is missing (delivered before, or never created)")
	}
	open := func(v *secrets.Sealed, binding string) (string, error) {
		b, err := h.Secrets.Open(ctx, tenant, *v, binding)
		if err != nil {
			return "", &pbx.Error{Code: pbx.EINTERNAL, Field: "credentials", Message: "the user's credentials could not be opened", Err: err}
		}
		return string(b), nil
	}
	sec := Secrets{PortalKind: c.PortalKind}
	var err error
	if sec.Portal, err = open(c.Portal, pbx.PortalBinding(row.SIPUser)); err != nil {
		return nil, err
	}
	if sec.PIN, err = open(&c.PIN, pbx.PINBinding(row.SIPUser)); err != nil {
		return nil, err
	}
	if row.ProvisioningFile == "" || env.settings.Email.IncludeSIPSecret {
		if sec.SIPSecret, err = open(&c.SIPSecret, pbx.SIPSecretBinding(row.SIPUser)); err != nil {
			return nil, err
		}
	}
	vars, err := BuildVars(env.settings, tenant, row, sec)
	if err != nil {
		return nil, err
	}
	content, err := env.tpl.Render(vars)
	if err != nil {
		return nil, err
	}
	to, err := ParseRecipient(row.Name, row.Email)
	if err != nil {
		return nil, err
	}
	m := Message{From: env.from, To: to, Content: content, Date: now,
		Seed: strings.Join([]string{tenant, row.User, env.in.Job, Purpose}, "|")}
	return m.Raw()
}

// readBatch reads and checks the batch results object.
func (h *Handler) readBatch(ctx context.Context, in events.WelcomeInput) (events.BatchResult, error) {
	obj, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(in.JobsBucket), Key: aws.String(in.Key)})
	if err != nil {
		return events.BatchResult{}, fmt.Errorf("get batch results %s: %w", in.Key, err)
	}
	defer obj.Body.Close()
	data, err := io.ReadAll(io.LimitReader(obj.Body, 16<<20))
	if err != nil {
		return events.BatchResult{}, fmt.Errorf("read batch results %s: %w", in.Key, err)
	}
	var b events.BatchResult
	if err := json.Unmarshal(data, &b); err != nil {
		return events.BatchResult{}, fmt.Errorf("decode batch results %s: %w", in.Key, err)
	}
	if b.Tenant != in.Tenant || b.Job != in.Job {
		return events.BatchResult{}, pbx.Errorf(pbx.EINVALID, "key", "results object %s belongs to %s/%s, not %s/%s", in.Key, b.Tenant, b.Job, in.Tenant, in.Job)
	}
	if b.Batch == "" {
		b.Batch = strings.TrimSuffix(path.Base(in.Key), ".json")
	}
	return b, nil
}

// otherResults returns the batch's stored email outcomes of every user but
// the one with extension ext (none when the batch has no outcomes yet).
func (h *Handler) otherResults(ctx context.Context, in events.WelcomeInput, key, ext string) ([]events.RowResult, error) {
	obj, err := h.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(in.JobsBucket), Key: aws.String(key)})
	if err != nil {
		var nsk *s3types.NoSuchKey
		var nf *s3types.NotFound
		if errors.As(err, &nsk) || errors.As(err, &nf) {
			return nil, nil
		}
		return nil, fmt.Errorf("get email results %s: %w", key, err)
	}
	defer obj.Body.Close()
	var b events.BatchResult
	if err := json.NewDecoder(io.LimitReader(obj.Body, 16<<20)).Decode(&b); err != nil {
		return nil, fmt.Errorf("decode email results %s: %w", key, err)
	}
	var rows []events.RowResult
	for _, r := range b.Rows {
		if r.Extension != ext {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// writeResults stores the batch's email outcomes for finalize.
func (h *Handler) writeResults(ctx context.Context, in events.WelcomeInput, batch, key string, rows []events.RowResult) error {
	body, err := json.Marshal(events.BatchResult{
		Tenant: in.Tenant, Job: in.Job, Batch: batch, JobsBucket: in.JobsBucket, ResultKey: key, Rows: rows,
	})
	if err != nil {
		return fmt.Errorf("encode email results: %w", err)
	}
	_, err = h.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(in.JobsBucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("put email results %s: %w", key, err)
	}
	return nil
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

// newAttempt is a unique id for this invocation's reservations.
func newAttempt() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("attempt id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orDefaultDuration(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
