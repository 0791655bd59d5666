package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// ObjectStore is the part of *s3.Client the write-provisioning step uses.
type ObjectStore interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// SettingsLoader loads a tenant's effective settings; *store.Store
// satisfies it.
type SettingsLoader interface {
	LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error)
}

// CredentialGetter reads endpoints' sealed secrets in one batch;
// *store.Store satisfies it.
type CredentialGetter interface {
	GetCredentials(ctx context.Context, tenant string, sipUsers []string) (map[string]pbx.Credentials, error)
}

// SecretOpener opens a sealed value; *secrets.Box satisfies it.
type SecretOpener interface {
	Open(ctx context.Context, tenant string, v secrets.Sealed, binding string) ([]byte, error)
}

// Step is the write-provisioning step: for each row of a batch that
// create-records created or updated and that has a MAC, it renders the
// phone's files and PUTs them to the provisioning bucket.
type Step struct {
	S3                 ObjectStore
	Settings           SettingsLoader
	Credentials        CredentialGetter
	Secrets            SecretOpener
	Renderer           *Renderer
	ProvisioningBucket string
	// BaseURL is the provisioning URL phones are given (scheme and host);
	// bootstrap files point phones at their MAC file under it.
	BaseURL string
	Logger  *slog.Logger // nil discards
	// Concurrency bounds the PUTs in flight; 0 means 8.
	Concurrency int
}

// Handle provisions one batch. The input normally carries no rows (the
// previous step wrote them to in.ResultKey); Handle reads them, updates
// each row (ProvisioningFile, warnings, or CodeProvisioningFailed), writes
// the whole result back to in.ResultKey and returns in without rows.
//
// It is idempotent: files are rendered deterministically and PUT whole, so
// a replay writes the same bytes to the same keys; warnings are not
// repeated. A file that cannot be written fails only its row (after the
// SDK's retries); the step fails only when it cannot read its inputs or
// write its result, so that Step Functions retries the whole batch.
func (s *Step) Handle(ctx context.Context, in events.BatchResult) (events.BatchResult, error) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("job", in.Job, "tenant", in.Tenant, "batch", in.Batch)
	if err := pbx.ValidateTenantName(in.Tenant); err != nil {
		return events.BatchResult{}, err
	}
	if in.ResultKey != jobfiles.ResultKey(in.Tenant, in.Job, in.Batch) {
		return events.BatchResult{}, fmt.Errorf("write-provisioning: result key %q is not batch %s of job %s", in.ResultKey, in.Batch, in.Job)
	}
	result := in
	if len(result.Rows) == 0 {
		stored, err := s.readResult(ctx, in)
		if err != nil {
			return events.BatchResult{}, err
		}
		result.Rows = stored.Rows
	}

	var todo []int
	for i, r := range result.Rows {
		if r.MAC != "" && r.SIPUser != "" && (r.Status == events.StatusCreated || r.Status == events.StatusUpdated) {
			todo = append(todo, i)
		}
	}
	if len(todo) > 0 {
		if err := s.provision(ctx, log, in.Tenant, result.Rows, todo); err != nil {
			return events.BatchResult{}, err
		}
		if err := s.writeResult(ctx, result); err != nil {
			return events.BatchResult{}, err
		}
	}
	out := result
	out.Rows = nil
	return out, nil
}

// batchPlan is what the rows of one batch are provisioned with.
type batchPlan struct {
	tenant, prefix string // prefix: the tenant's provisioning path
	p              pbx.Provisioning
	models         map[int]string             // row index → its phone model
	creds          map[string]pbx.Credentials // SIP user → sealed secret
	bootFailed     map[string]error           // model → why its bootstrap file failed
}

// provision writes the phone files of rows[todo]: each row gets its file's
// key and warnings, a MAC-ignored warning, or CodeProvisioningFailed.
func (s *Step) provision(ctx context.Context, log *slog.Logger, tenant string, rows []events.RowResult, todo []int) error {
	settings, err := s.Settings.LoadSettings(ctx, tenant)
	if err != nil {
		return fmt.Errorf("write-provisioning: %w", err)
	}
	b := &batchPlan{tenant: tenant, p: settings.Provisioning}
	todo, b.models = pickModels(ctx, log, b.p, rows, todo)
	if len(todo) == 0 {
		return nil
	}
	sipUsers := make([]string, 0, len(todo))
	for _, i := range todo {
		sipUsers = append(sipUsers, rows[i].SIPUser)
	}
	b.creds, err = s.Credentials.GetCredentials(ctx, tenant, sipUsers)
	if err != nil {
		return fmt.Errorf("write-provisioning: read credentials: %w", err)
	}
	b.prefix = settings.ProvisioningPath(tenant)
	b.bootFailed = s.writeBootstrap(ctx, log, b.prefix, todo, b.models)
	s.provisionRows(ctx, log, b, rows, todo)
	return ctx.Err()
}

// pickModels gives each row its model (stored on the device by pbx.Build,
// else the tenant's default) and keeps the rows whose phone can be
// provisioned; the others get a MAC-ignored warning.
func pickModels(ctx context.Context, log *slog.Logger, p pbx.Provisioning, rows []events.RowResult, todo []int) ([]int, map[int]string) {
	models := make(map[int]string, len(todo))
	kept := todo[:0:0]
	for _, i := range todo {
		model := rows[i].PhoneModel
		if model == "" {
			model = p.DefaultPhoneModel
		}
		if ignored := whyNotProvisioned(p, model); ignored != "" {
			addWarning(&rows[i], ignored)
			log.WarnContext(ctx, "MAC ignored", "row", rows[i].Line, "mac", rows[i].MAC, "reason", ignored)
			continue
		}
		models[i] = model
		kept = append(kept, i)
	}
	return kept, models
}

// whyNotProvisioned is the warning for a MAC that is not provisioned
// with model, or "" when it is.
func whyNotProvisioned(p pbx.Provisioning, model string) string {
	switch {
	case !p.Enabled:
		return pbx.CodeMACIgnored + ": device provisioning is not enabled for this tenant; the MAC was not provisioned"
	case model == "":
		return pbx.CodeMACIgnored + ": the row has no phone_model and the tenant has no default phone model; the MAC was not provisioned"
	case !KnownModel(model):
		return fmt.Sprintf("%s: phone model %q is not supported; the MAC was not provisioned", pbx.CodeMACIgnored, model)
	case !p.ProvisionsFamily(pbx.PhoneFamily(model)):
		return pbx.FamilyNotProvisionedWarning(model)
	}
	return ""
}

// provisionRows writes the rows' files, s.Concurrency rows at a time, and
// records each row's outcome.
func (s *Step) provisionRows(ctx context.Context, log *slog.Logger, b *batchPlan, rows []events.RowResult, todo []int) {
	limit := s.Concurrency
	if limit <= 0 {
		limit = 8
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, i := range todo {
		row := &rows[i] // each goroutine owns one row
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			key, warnings, err := s.provisionRow(ctx, b, b.models[i], *row)
			if err == nil && b.bootFailed[b.models[i]] != nil {
				err = b.bootFailed[b.models[i]]
			}
			recordOutcome(ctx, log.With("row", row.Line, "mac", row.MAC), row, key, warnings, err)
		})
	}
	wg.Wait()
}

// recordOutcome sets the row's provisioning file and warnings, or its
// failure (the user exists; only the phone file is missing).
func recordOutcome(ctx context.Context, rlog *slog.Logger, row *events.RowResult, key string, warnings []string, err error) {
	if err != nil {
		row.ProvisioningFile = ""
		row.Code = pbx.CodeProvisioningFailed
		row.Message = "user created, but the phone's provisioning file was not written: " + pbx.ErrorMessage(err)
		rlog.ErrorContext(ctx, "provisioning file failed", "error", err)
		return
	}
	if row.Code == pbx.CodeProvisioningFailed { // an earlier attempt's failure, now fixed
		row.Code, row.Message = "", ""
	}
	row.ProvisioningFile = key
	for _, w := range warnings {
		addWarning(row, w)
	}
	rlog.InfoContext(ctx, "provisioning file written", "key", key)
}

// writeBootstrap writes the bootstrap file of each model in the batch
// (the same bytes every time, so a replay or a later batch rewrites it
// unchanged); it returns the error of each model whose file failed.
func (s *Step) writeBootstrap(ctx context.Context, log *slog.Logger, prefix string, todo []int, models map[int]string) map[string]error {
	failed := map[string]error{}
	done := map[string]bool{}
	for _, i := range todo {
		m := models[i]
		if done[m] {
			continue
		}
		done[m] = true
		f, ok, err := s.Renderer.RenderBootstrap(m, Location{BaseURL: s.BaseURL, Path: prefix})
		if err == nil && ok {
			err = s.put(ctx, jobfiles.ProvisioningKey(prefix, f.Name), f)
		}
		if err != nil {
			failed[m] = fmt.Errorf("bootstrap file for %s: %w", m, err)
			log.ErrorContext(ctx, "bootstrap file failed", "model", m, "error", err)
		}
	}
	return failed
}

func (s *Step) put(ctx context.Context, key string, f File) error {
	_, err := s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.ProvisioningBucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(f.Body),
		ContentLength: aws.Int64(int64(len(f.Body))),
		ContentType:   aws.String(f.ContentType),
		CacheControl:  aws.String("no-store"),
	})
	if err != nil {
		return &pbx.Error{Code: pbx.EINTERNAL, Message: "the file could not be stored", Err: fmt.Errorf("put %s: %w", key, err)}
	}
	return nil
}

// provisionRow renders and writes one device's files; it returns the key
// of the file the phone requests first.
func (s *Step) provisionRow(ctx context.Context, b *batchPlan, model string, row events.RowResult) (string, []string, error) {
	c, ok := b.creds[row.SIPUser]
	if !ok || c.SIPSecret.IsZero() {
		return "", nil, pbx.Errorf(pbx.ENOTFOUND, "sip_user", "no SIP secret is stored for %s", row.SIPUser)
	}
	secret, err := s.Secrets.Open(ctx, b.tenant, c.SIPSecret, pbx.SIPSecretBinding(row.SIPUser))
	if err != nil {
		return "", nil, fmt.Errorf("open SIP secret of %s: %w", row.SIPUser, err)
	}
	rendered, err := s.Renderer.Render(Account{
		MAC: row.MAC, Model: model, DisplayName: row.Name, Extension: row.Extension,
		SIPUser: row.SIPUser, SIPSecret: string(secret),
	}, b.p)
	clear(secret)
	if err != nil {
		return "", nil, err
	}
	var first string
	for _, f := range rendered.Files {
		key := jobfiles.ProvisioningKey(b.prefix, f.Name)
		if err := s.put(ctx, key, f); err != nil {
			return "", nil, err
		}
		if first == "" {
			first = key
		}
	}
	return first, rendered.Warnings, nil
}

// addWarning appends w unless the row has it already (a replayed batch).
func addWarning(r *events.RowResult, w string) {
	if !slices.Contains(r.Warnings, w) {
		r.Warnings = append(r.Warnings, w)
	}
}

func (s *Step) readResult(ctx context.Context, in events.BatchResult) (events.BatchResult, error) {
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(in.JobsBucket), Key: aws.String(in.ResultKey)})
	if err != nil {
		return events.BatchResult{}, fmt.Errorf("write-provisioning: read %s: %w", in.ResultKey, err)
	}
	defer out.Body.Close()
	var stored events.BatchResult
	body, err := io.ReadAll(out.Body)
	if err == nil {
		err = json.Unmarshal(body, &stored)
	}
	if err != nil {
		return events.BatchResult{}, fmt.Errorf("write-provisioning: decode %s: %w", in.ResultKey, err)
	}
	if stored.Tenant != in.Tenant {
		return events.BatchResult{}, fmt.Errorf("write-provisioning: %s belongs to tenant %q, not %q", in.ResultKey, stored.Tenant, in.Tenant)
	}
	return stored, nil
}

func (s *Step) writeResult(ctx context.Context, r events.BatchResult) error {
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write-provisioning: encode result: %w", err)
	}
	_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(r.JobsBucket),
		Key:           aws.String(r.ResultKey),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("write-provisioning: write %s: %w", r.ResultKey, err)
	}
	return nil
}

// NewStep wires write-provisioning as the Lambda function and the local run do.
func NewStep(s3 ObjectStore, st *store.Store, box SecretOpener, bucket, baseURL string, log *slog.Logger) (*Step, error) {
	renderer, err := NewRenderer()
	if err != nil {
		return nil, fmt.Errorf("provisioning templates: %w", err)
	}
	return &Step{S3: s3, Settings: st, Credentials: st, Secrets: box, Renderer: renderer, ProvisioningBucket: bucket, BaseURL: baseURL, Logger: log}, nil
}
