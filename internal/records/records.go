// Package records is the create-records step: for each validated upload row
// of a batch it creates the PBX objects the seed lists (user, extension,
// mailbox, endpoint, directory contact, and with a DID the DID assignment
// and inbound route) with freshly generated, sealed credentials, and
// records the batch's per-row outcome in the jobs bucket.
//
// Decisions:
//   - Several rows share one TransactWriteItems (store.WriteRows); a failing
//     row is dropped and the rest resubmitted, so rows are atomic and
//     independent while a batch costs few round trips.
//   - Replays are recognised by the job id and line on the USER item: the
//     row reports created and nothing is rewritten, credentials included.
//     Timestamps come from the job (CreatedAt), so a replay writes nothing
//     different.
//   - A MAC owned by another endpoint, even of the same tenant, fails the
//     row (mac_taken): silently moving a phone away from another user would
//     un-provision that user's desk phone. Free the MAC first, or update the
//     owning row. An update row that changes its own MAC or DID releases the
//     old MAC owner item and route in the same transaction.
//   - The voicemail PIN is stored sealed only, not hashed: a 4-12 digit PIN's
//     hash next to the data is brute-forced offline in hours whatever the
//     hash, while the sealed PIN needs KMS. The PBX verifies by opening it.
//     Mailbox.PINHash stays empty.
//   - The temporary password (welcome=password) is hashed with Argon2id
//     (OWASP minimum parameters); hashing is spread over all cores because
//     it dominates that mode's cost. Invite tokens (welcome=invite, and
//     welcome=none for a later email) are 256-bit random and stored as
//     SHA-256 on the USER item; the global INVITE# item (expiring by TTL) is
//     written by the welcome email that delivers the token, not here.
package records

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// Store is the part of *store.Store the step uses.
type Store interface {
	// JobSettings reads the job (its upload options, its creation time)
	// and the settings its rows are made with, in one read.
	JobSettings(ctx context.Context, tenant, job string) (jobmodel.Job, pbx.Settings, error)
	WriteRows(ctx context.Context, tenant string, rows []store.RowWrite, opt store.WriteOptions) ([]store.RowOutcome, store.WriteStats, error)
	// LookupTenantData reads the operator's DID rules for the batch (boundary.go).
	LookupTenantData(ctx context.Context, tenant string, exts, dids, macs []string) (store.TenantData, error)
}

// ObjectPutter writes the batch's results object; *s3.Client satisfies it.
type ObjectPutter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Sealers hands out one Sealer (one KMS data key) per batch; *secrets.Box
// satisfies it.
type Sealers interface {
	Sealer(ctx context.Context, tenant string) (*secrets.Sealer, error)
}

// DefaultRowsPerTransaction was picked with BenchmarkHandler against
// DynamoDB Local: a transaction's fixed cost dominates its per-item cost, so
// rows/s grows with rows per transaction up to DynamoDB's 100-item limit,
// which caps typical rows (7-11 items) at 9-14 per transaction. 25 means
// "fill each transaction".
const DefaultRowsPerTransaction = 25

// DefaultConcurrency: a batch of 50 rows makes ~5 full transactions; two at
// a time overlap one's network and commit with the next one's.
const DefaultConcurrency = 2

// Handler is the create-records step.
type Handler struct {
	Store   Store
	S3      ObjectPutter
	Secrets Sealers
	// Now is the clock, used only when a job has no CreatedAt.
	Now func() time.Time
	Log *slog.Logger
	// RowsPerTransaction; 0 means DefaultRowsPerTransaction.
	RowsPerTransaction int
	// Concurrency is how many of a batch's transactions run at once; 0
	// means DefaultConcurrency.
	Concurrency int
	// JobsBucket, when set, is the only bucket results are written to: a
	// batch naming another one is refused rather than followed.
	JobsBucket string
}

// Handle creates the batch's rows and returns their outcomes, after writing
// them to the jobs bucket at jobfiles.ResultKey. Row failures are outcomes,
// not errors; an error means the batch must be retried (it is idempotent).
func (h *Handler) Handle(ctx context.Context, in events.RecordsBatch) (events.BatchResult, error) {
	bc := in.BatchInput
	if err := pbx.ValidateTenantName(bc.Tenant); err != nil {
		return events.BatchResult{}, err
	}
	if bc.Job == "" || bc.JobsBucket == "" {
		return events.BatchResult{}, pbx.Errorf(pbx.EINVALID, "BatchInput", "job and jobs_bucket are required")
	}
	if h.JobsBucket != "" && bc.JobsBucket != h.JobsBucket {
		return events.BatchResult{}, pbx.Errorf(pbx.EINVALID, "BatchInput", "jobs_bucket %q is not this deployment's jobs bucket", bc.JobsBucket)
	}
	log := h.logger().With("tenant", bc.Tenant, "job", bc.Job)
	first := 0
	for i, r := range in.Items {
		if i == 0 || r.Line < first {
			first = r.Line
		}
	}
	batch := jobfiles.BatchID(first)
	result := events.BatchResult{
		Tenant: bc.Tenant, Job: bc.Job, Batch: batch, JobsBucket: bc.JobsBucket,
		ResultKey: jobfiles.ResultKey(bc.Tenant, bc.Job, batch),
	}
	log = log.With("batch", batch)

	rows, writes, err := h.prepare(ctx, bc, in.Items, log)
	if err != nil {
		return events.BatchResult{}, err
	}
	if len(writes.rows) > 0 {
		outcomes, stats, err := h.Store.WriteRows(ctx, bc.Tenant, writes.rows, store.WriteOptions{
			Job: bc.Job, CreatedAt: writes.createdAt, RowsPerTransaction: h.rowsPerTransaction(),
			Concurrency: cmp.Or(h.Concurrency, DefaultConcurrency),
		})
		if err != nil {
			return events.BatchResult{}, fmt.Errorf("create records of batch %s: %w", batch, err)
		}
		for i, o := range outcomes {
			r := &rows[writes.index[i]]
			switch {
			case o.Err != nil:
				r.Status, r.Code, r.Message = events.StatusFailed, pbx.ErrorCode(o.Err), pbx.ErrorMessage(o.Err)
				log.Warn("row failed", "row", r.Line, "code", r.Code, "error", o.Err)
			case o.Updated:
				r.Status = events.StatusUpdated
			default:
				r.Status = events.StatusCreated
				if o.Already {
					log.Info("row already created by this job", "row", r.Line)
				}
			}
		}
		log.Info("records written", "rows", len(writes.rows), "transactions", stats.Transactions,
			"retries", stats.Retries, "consumed_wcu", stats.ConsumedWCU, "model_wcu", stats.ModelWCU)
	}
	result.Rows = rows
	body, err := json.Marshal(result)
	if err != nil {
		return events.BatchResult{}, fmt.Errorf("encode results of batch %s: %w", batch, err)
	}
	if _, err := h.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bc.JobsBucket), Key: aws.String(result.ResultKey),
		Body: bytes.NewReader(body), ContentType: aws.String("application/json"),
	}); err != nil {
		return events.BatchResult{}, fmt.Errorf("write results of batch %s: %w", batch, err)
	}
	return result, nil
}

type preparedWrites struct {
	rows      []store.RowWrite
	index     []int // rows[i] is result row index[i]
	createdAt time.Time
}

// prepare builds every row's objects and, for new rows, its credentials.
func (h *Handler) prepare(ctx context.Context, bc events.BatchContext, items []pbx.UserRow, log *slog.Logger) ([]events.RowResult, preparedWrites, error) {
	var w preparedWrites
	// The job's CreatedAt is the base of invite expiry; its upload
	// options (already defaulted by ingest) are laid over the settings.
	job, settings, err := h.Store.JobSettings(ctx, bc.Tenant, bc.Job)
	if err != nil {
		return nil, w, fmt.Errorf("read job %s and its settings: %w", bc.Job, err)
	}
	w.createdAt = job.CreatedAt
	if w.createdAt.IsZero() {
		w.createdAt = h.now().UTC().Truncate(time.Second)
	}

	rows := make([]events.RowResult, len(items))
	objects := make([]pbx.RowObjects, len(items))
	var fresh []int
	for i, row := range items {
		r := &rows[i]
		*r = events.RowResult{Line: row.Line, Extension: row.Extension, Name: row.DisplayName(), Email: row.Email, DID: row.DID}
		o, err := pbx.Build(bc.Tenant, settings, row)
		if err != nil {
			r.Status, r.Code, r.Message = events.StatusFailed, pbx.ErrorCode(err), pbx.ErrorMessage(err)
			log.Warn("row rejected", "row", row.Line, "code", r.Code)
			continue
		}
		objects[i] = o
		r.User, r.SIPUser, r.Warnings = o.User.Name, o.Endpoint.SIPUser, o.Warnings
		if o.Endpoint.Device != nil {
			r.MAC, r.PhoneModel = o.Endpoint.Device.MAC, o.Endpoint.Device.Model
		}
		if !row.Exists {
			fresh = append(fresh, i)
		}
	}

	claimDIDs, err := h.tenantBoundary(ctx, bc.Tenant, settings, objects, rows)
	if err != nil {
		return nil, w, err
	}
	fresh = slices.DeleteFunc(fresh, func(i int) bool { return rows[i].Status == events.StatusFailed })
	creds, err := h.credentials(ctx, bc.Tenant, settings, w.createdAt, items, objects, fresh)
	if err != nil {
		return nil, w, err
	}
	for i, row := range items {
		if rows[i].Status == events.StatusFailed {
			continue
		}
		rw := store.RowWrite{Line: row.Line, Objects: objects[i], Update: row.Exists, CreateDIDs: claimDIDs}
		if c, ok := creds[i]; ok {
			rw.Objects.User = c.user
			rw.Credentials = c.sealed
		}
		w.rows = append(w.rows, rw)
		w.index = append(w.index, i)
	}
	return rows, w, nil
}

type rowCredentials struct {
	user   pbx.User // with the password or invite hash
	sealed pbx.Credentials
}

// credentials generates and seals the credentials of new rows with one
// data key for the batch, spreading the work (Argon2id) over the cores.
func (h *Handler) credentials(ctx context.Context, tenant string, s pbx.Settings, createdAt time.Time, items []pbx.UserRow, objects []pbx.RowObjects, fresh []int) (map[int]rowCredentials, error) {
	out := make(map[int]rowCredentials, len(fresh))
	if len(fresh) == 0 {
		return out, nil
	}
	sealer, err := h.Secrets.Sealer(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("seal credentials of tenant %s: %w", tenant, err)
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		next     = make(chan int)
	)
	for range min(runtime.GOMAXPROCS(0), len(fresh)) {
		wg.Go(func() {
			for i := range next {
				c, err := generate(sealer, s, createdAt, objects[i], items[i].Imported)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("credentials of line %d: %w", items[i].Line, err)
				}
				out[i] = c
				mu.Unlock()
			}
		})
	}
	for _, i := range fresh {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// generate makes one endpoint's SIP secret, voicemail PIN and portal
// credential, seals the plaintexts and keeps only hashes on the user. An
// imported SIP secret or PIN (already sealed by ingest, bound the same way)
// is kept instead of a generated one.
func generate(sealer *secrets.Sealer, s pbx.Settings, createdAt time.Time, o pbx.RowObjects, imported *pbx.ImportedCredentials) (rowCredentials, error) {
	sip := o.Endpoint.SIPUser
	user := o.User
	sipSecret, err := secrets.SIPSecret()
	if err != nil {
		return rowCredentials{}, err
	}
	pin, err := secrets.PIN(s.VoicemailPINLength, o.Ext.Number)
	if err != nil {
		return rowCredentials{}, err
	}
	var portal string
	kind := pbx.WelcomeInvite
	switch user.WelcomeMode {
	case pbx.WelcomePassword:
		kind = pbx.WelcomePassword
		p := s.Password
		if portal, err = secrets.Password(secrets.PasswordPolicy{Length: p.Length, RequireUpper: p.RequireUpper,
			RequireLower: p.RequireLower, RequireDigit: p.RequireDigit, RequireOther: p.RequireOther}); err != nil {
			return rowCredentials{}, err
		}
		if user.PasswordHash, err = secrets.HashPassword(portal); err != nil {
			return rowCredentials{}, err
		}
		user.MustChangePassword = true
	default: // invite now, or none: an invite sent later
		if portal, user.InviteHash, err = secrets.InviteToken(); err != nil {
			return rowCredentials{}, err
		}
		user.InviteExpires = createdAt.Add(time.Duration(s.Email.InviteTTLHours) * time.Hour).UTC()
	}
	c := pbx.Credentials{SIPUser: sip, Extension: o.Ext.Number, PortalKind: kind}
	if c.SIPSecret, err = sealOrImported(sealer, sipSecret, pbx.SIPSecretBinding(sip), importedValue(imported, true)); err != nil {
		return rowCredentials{}, err
	}
	if c.PIN, err = sealOrImported(sealer, pin, pbx.PINBinding(sip), importedValue(imported, false)); err != nil {
		return rowCredentials{}, err
	}
	sealedPortal, err := sealer.Seal([]byte(portal), pbx.PortalBinding(sip))
	if err != nil {
		return rowCredentials{}, err
	}
	c.Portal = &sealedPortal
	return rowCredentials{user: user, sealed: c}, nil
}

func importedValue(c *pbx.ImportedCredentials, sip bool) json.RawMessage {
	switch {
	case c == nil:
		return nil
	case sip:
		return c.SIPSecret
	}
	return c.PIN
}

// sealOrImported returns the imported sealed value when there is one, else
// generated sealed with binding.
func sealOrImported(sealer *secrets.Sealer, generated, binding string, imported json.RawMessage) (secrets.Sealed, error) {
	if len(imported) > 0 {
		var v secrets.Sealed
		if err := json.Unmarshal(imported, &v); err != nil || v.IsZero() {
			return secrets.Sealed{}, pbx.Errorf(pbx.EINVALID, "imported", "an imported credential is not a sealed value")
		}
		return v, nil
	}
	return sealer.Seal([]byte(generated), binding)
}

func (h *Handler) rowsPerTransaction() int {
	if h.RowsPerTransaction > 0 {
		return h.RowsPerTransaction
	}
	return DefaultRowsPerTransaction
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// NewStep wires create-records as the Lambda function and the local run do.
func NewStep(st *store.Store, s3 ObjectPutter, box Sealers, jobsBucket string, log *slog.Logger) *Handler {
	return &Handler{Store: st, S3: s3, Secrets: box, Log: log, JobsBucket: jobsBucket}
}
