package welcome

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// stack is the one local AWS stack of this test binary (DynamoDB Local,
// S3, SES, KMS through the real SDK clients); tests keep apart by tenant.
var stack *devstack.Stack

// calls counts the stack clients' API calls (tests run one at a time).
var calls callstats.Counter

func TestMain(m *testing.M) {
	os.Exit(testkit.ForTests(m, devstack.Config{APIOptions: []func(*middleware.Stack) error{calls.Middleware()}}, func(s *devstack.Stack) {
		s.SES().SetMaxSendRate(1000)
		stack = s
	}))
}

// fixture is one tenant with users whose records exist: settings, sealed
// credentials and a batch results object, as create-records and
// write-provisioning leave them.
type fixture struct {
	tenant, job string
	mode        pbx.WelcomeMode
	st          *store.Store
	box         *secrets.Box
	rows        []events.RowResult
	secrets     map[string]Secrets // by SIP user
	key         string
}

func newFixture(t *testing.T, tenant string, mode pbx.WelcomeMode, rows []events.RowResult) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{tenant: tenant, job: "j" + tenant + "0001", mode: mode, rows: rows,
		st: store.New(stack.Clients.DynamoDB, stack.Table), box: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID),
		secrets: map[string]Secrets{}}
	if err := f.st.PutTenant(ctx, pbx.Tenant{Name: tenant, DisplayName: "Tenant " + strings.ToUpper(tenant)}, pbx.LocalTenantOverrides(tenant)); err != nil {
		t.Fatal(err)
	}
	sealer, err := f.box.Sealer(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	kind := pbx.WelcomeInvite
	if mode == pbx.WelcomePassword {
		kind = pbx.WelcomePassword
	}
	for _, r := range rows {
		if r.SIPUser == "" || r.Status != events.StatusCreated {
			continue
		}
		sec := Secrets{Portal: "portal-" + r.SIPUser, PortalKind: kind, SIPSecret: "sip-secret-" + r.SIPUser, PIN: "4802" + r.Extension}
		f.secrets[r.SIPUser] = sec
		seal := func(v, binding string) secrets.Sealed {
			s, err := sealer.Seal([]byte(v), binding)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		portal := seal(sec.Portal, pbx.PortalBinding(r.SIPUser))
		if err := store.New(stack.Clients.DynamoDB, stack.Table).PutCredentials(ctx, tenant, pbx.Credentials{
			SIPUser: r.SIPUser, Extension: r.Extension, PortalKind: kind, Portal: &portal, InviteExpires: inviteExpires(kind),
			SIPSecret: seal(sec.SIPSecret, pbx.SIPSecretBinding(r.SIPUser)), PIN: seal(sec.PIN, pbx.PINBinding(r.SIPUser)),
		}); err != nil {
			t.Fatal(err)
		}
	}
	f.key = f.putBatch(t, f.job, rows)
	return f
}

// inviteExpires is the fixtures' invite expiry (epoch seconds), 0 for a password.
func inviteExpires(kind pbx.WelcomeMode) int64 {
	if kind != pbx.WelcomeInvite {
		return 0
	}
	return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).Unix()
}

// putBatch writes a batch results object for job and returns its key.
func (f *fixture) putBatch(t *testing.T, job string, rows []events.RowResult) string {
	t.Helper()
	batch := jobfiles.BatchID(rows[0].Line)
	key := jobfiles.ResultKey(f.tenant, job, batch)
	body, _ := json.Marshal(events.BatchResult{Tenant: f.tenant, Job: job, Batch: batch, JobsBucket: stack.JobsBucket, ResultKey: key, Rows: rows})
	_, err := stack.Clients.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(stack.JobsBucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func (f *fixture) handler() *Handler {
	return &Handler{
		S3: stack.Clients.S3, Store: f.st, Secrets: f.box, SES: stack.Clients.SES,
		// The fixtures write no job items: the tenant's settings with the
		// fixture's welcome mode as the job's options.
		Settings: func(ctx context.Context, tenant, job string) (pbx.Settings, error) {
			upload, err := pbx.Options{OnExisting: pbx.OnExistingFail, Welcome: f.mode}.Layer()
			if err != nil {
				return pbx.Settings{}, err
			}
			return f.st.LoadSettings(ctx, tenant, upload)
		},
		Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	}
}

func (f *fixture) input(job, key string) events.WelcomeInput {
	return events.WelcomeInput{Tenant: f.tenant, Job: job, JobsBucket: stack.JobsBucket, Key: key, Concurrency: 2}
}

// emailResults reads a batch's email outcomes object, by line.
func (f *fixture) emailResults(t *testing.T, out events.WelcomeOutput) map[int]events.RowResult {
	t.Helper()
	obj, err := stack.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(stack.JobsBucket), Key: aws.String(out.EmailKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var b events.BatchResult
	if err := json.NewDecoder(obj.Body).Decode(&b); err != nil {
		t.Fatal(err)
	}
	if b.Tenant != f.tenant || b.Batch != out.Batch {
		t.Fatalf("email results object = %+v", b)
	}
	m := map[int]events.RowResult{}
	for _, r := range b.Rows {
		m[r.Line] = r
	}
	return m
}

// outboxEmail is one message the SES endpoint stored.
type outboxEmail struct {
	parsedEmail
	tags, configSet string
}

// outbox returns this tenant's stored messages by recipient.
func (f *fixture) outbox(t *testing.T) map[string][]outboxEmail {
	t.Helper()
	paths, err := stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]outboxEmail{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		tags := msg.Header.Get("X-SES-MESSAGE-TAGS")
		if !strings.Contains(tags, "tenant="+f.tenant+",") {
			continue
		}
		e := outboxEmail{parsedEmail: parseRaw(t, raw), tags: tags, configSet: msg.Header.Get("X-SES-CONFIGURATION-SET")}
		got[e.to.Address] = append(got[e.to.Address], e)
	}
	return got
}

func created(line int, ext, tenant, email string) events.RowResult {
	return events.RowResult{Line: line, Extension: ext, Name: "User " + ext, User: pbx.PortalUserName(tenant, ext),
		SIPUser: pbx.SIPUserName(ext, tenant), Email: email, Status: events.StatusCreated}
}

func TestHandlerSendsOncePerCreatedUser(t *testing.T) {
	ctx := context.Background()
	const tenant = "wsend"
	provisioned := created(3, "101", tenant, "bob@wsend.example")
	provisioned.ProvisioningFile = "wsend/001565a1b2c3.cfg"
	failed := created(4, "102", tenant, "carl@wsend.example")
	failed.Status, failed.Code = events.StatusFailed, pbx.CodeDIDTaken
	skipped := created(5, "103", tenant, "dora@wsend.example")
	skipped.Status = events.StatusSkipped
	noEmail := created(6, "104", tenant, "")
	injected := created(7, "105", tenant, "a@b.c\r\nBcc: x@y.example")
	rows := []events.RowResult{created(2, "100", tenant, "ann@wsend.example"), provisioned, failed, skipped, noEmail, injected}
	f := newFixture(t, tenant, pbx.WelcomeInvite, rows)

	out, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 2 || out.Failed != 1 || out.AlreadySent != 0 || out.Deferred != 0 {
		t.Fatalf("output = %+v, want 2 sent and 1 failed (the injected address)", out)
	}
	box := f.outbox(t)
	if len(box) != 2 || len(box["ann@wsend.example"]) != 1 || len(box["bob@wsend.example"]) != 1 {
		t.Fatalf("outbox recipients = %v, want one message each to ann and bob", keys(box))
	}
	results := f.emailResults(t, out)
	if len(results) != 3 || out.Handled() != len(results) {
		t.Fatalf("email results for %d rows, output handled %d, want 3 (created rows with an address)", len(results), out.Handled())
	}
	ann, bob := box["ann@wsend.example"][0], box["bob@wsend.example"][0]
	if results[2].EmailStatus != events.EmailSent || results[2].EmailMessageID == "" || results[3].EmailStatus != events.EmailSent {
		t.Errorf("results = %+v", results)
	}
	if r := results[7]; r.EmailStatus != events.EmailFailed || r.Code != pbx.EINVALID {
		t.Errorf("injected address result = %+v, want failed invalid", r)
	}
	checkWelcomeContent(t, f, ann, bob)
	checkWelcomeRecorded(t, f, results[2].EmailMessageID)

	// Replay of the same batch (a retried step): nothing new, same outcome.
	again, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.outbox(t)["ann@wsend.example"]); n != 1 || again.Sent != 2 {
		t.Fatalf("replay sent again: %d messages to ann, output %+v", n, again)
	}
	if r := f.emailResults(t, again)[2]; r.EmailStatus != events.EmailSent || r.EmailMessageID != results[2].EmailMessageID {
		t.Errorf("replayed result = %+v, want sent with the first MessageId", r)
	}

	// Another job naming the same users (a re-upload): already sent.
	otherKey := f.putBatch(t, "jwsend0002", rows)
	other, err := f.handler().Handle(ctx, f.input("jwsend0002", otherKey))
	if err != nil {
		t.Fatal(err)
	}
	if other.AlreadySent != 2 || other.Sent != 0 {
		t.Fatalf("second job output = %+v, want 2 already sent", other)
	}
	if n := len(f.outbox(t)["ann@wsend.example"]); n != 1 {
		t.Fatalf("%d messages to ann after a second job", n)
	}
}

// checkWelcomeContent checks ann's (invite, SIP secret) and bob's
// (provisioned phone: no SIP secret) emails of the "wsend" tenant.
func checkWelcomeContent(t *testing.T, f *fixture, ann, bob outboxEmail) {
	t.Helper()
	for _, e := range []outboxEmail{ann, bob} {
		if e.tags != "tenant=wsend, job="+f.job+", purpose=welcome" || e.configSet != "bulkprov-local" {
			t.Errorf("tags %q, configuration set %q", e.tags, e.configSet)
		}
		if e.subject != "Welcome to wsend: your phone and portal access" {
			t.Errorf("subject = %q", e.subject)
		}
	}
	annSec := f.secrets["100-wsend"]
	for _, want := range []string{"https://portal.pbx.example/invite/" + annSec.Portal, "SIP password: " + annSec.SIPSecret, "Voicemail PIN: " + annSec.PIN, "User name: wsend-100", "SIP user name: 100-wsend"} {
		if !strings.Contains(ann.text, want) {
			t.Errorf("ann's email lacks %q:\n%s", want, ann.text)
		}
	}
	if strings.Contains(bob.text, f.secrets["101-wsend"].SIPSecret) || !strings.Contains(bob.text, phoneConfiguredSentence) {
		t.Errorf("bob has a provisioned phone: his email must not carry the SIP secret:\n%s", bob.text)
	}
}

// checkWelcomeRecorded checks what sending ann's and the injected row's
// emails recorded: no sealed portal credential left, the ledger, ann's
// invite item.
func checkWelcomeRecorded(t *testing.T, f *fixture, annMessageID string) {
	t.Helper()
	ctx := context.Background()
	// The sealed portal credential is gone once sent; the ledger has the MessageId.
	creds, err := f.st.GetCredentials(ctx, f.tenant, []string{"100-wsend", "101-wsend"})
	if err != nil {
		t.Fatal(err)
	}
	for u, c := range creds {
		if c.Portal != nil {
			t.Errorf("%s still has its portal credential", u)
		}
	}
	ledger, err := f.st.GetEmailLedger(ctx, f.tenant, Purpose, []string{"100-wsend", "105-wsend"})
	if err != nil {
		t.Fatal(err)
	}
	if e := ledger["100-wsend"]; e.Status != store.LedgerSent || e.MessageID != annMessageID {
		t.Errorf("ledger = %+v", e)
	}
	if e := ledger["105-wsend"]; e.Status != store.LedgerFailed {
		t.Errorf("injected row's ledger = %+v, want FAILED (released)", e)
	}
	// The invite the email delivers resolves to its user and expires by TTL.
	inv := inviteItem(t, f.secrets["100-wsend"].Portal)
	if inv == nil || attrString(inv, "User") != "wsend-100" || attrString(inv, "Tenant") != f.tenant || attrString(inv, "SIPUser") != "100-wsend" ||
		attrString(inv, "Job") != f.job || inv[store.AttrTTL].(*types.AttributeValueMemberN).Value != fmt.Sprint(inviteExpires(pbx.WelcomeInvite)) {
		t.Errorf("invite item = %v", inv)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHandlerNoneModeDefersUntilAsked(t *testing.T) {
	ctx := context.Background()
	const tenant = "wnone"
	f := newFixture(t, tenant, pbx.WelcomeNone, []events.RowResult{created(2, "100", tenant, "ann@wnone.example"), created(3, "101", tenant, "bob@wnone.example")})
	out, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Deferred != 2 || out.Sent != 0 || len(f.outbox(t)) != 0 {
		t.Fatalf("none mode: output %+v, %d recipients", out, len(f.outbox(t)))
	}
	for line, r := range f.emailResults(t, out) {
		if r.EmailStatus != events.EmailDeferred {
			t.Errorf("line %d = %+v, want deferred", line, r)
		}
	}
	if inviteItem(t, f.secrets["100-wnone"].Portal) != nil {
		t.Error("an invite item exists before its email is sent")
	}
	// The admin is ready: bulkprov send-welcome.
	out, err = f.handler().Send(ctx, f.input(f.job, f.key), Options{SendDeferred: true})
	if err != nil {
		t.Fatal(err)
	}
	box := f.outbox(t)
	if out.Sent != 2 || len(box["ann@wnone.example"]) != 1 || len(box["bob@wnone.example"]) != 1 {
		t.Fatalf("deferred send: output %+v, outbox %v", out, keys(box))
	}
	if !strings.Contains(box["ann@wnone.example"][0].text, "/invite/portal-100-wnone") {
		t.Errorf("deferred email lacks the invite link:\n%s", box["ann@wnone.example"][0].text)
	}
	if inv := inviteItem(t, f.secrets["100-wnone"].Portal); inv == nil || attrString(inv, "User") != "wnone-100" {
		t.Errorf("deferred email's invite item = %v", inv)
	}
}

// inviteItem reads the INVITE# item of token, nil when there is none.
func inviteItem(t *testing.T, token string) map[string]types.AttributeValue {
	t.Helper()
	out, err := stack.Clients.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(stack.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: store.InvitePK(secrets.InviteHash(token))},
			store.AttrSK: &types.AttributeValueMemberS{Value: store.SKInvite},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func TestHandlerPasswordMode(t *testing.T) {
	const tenant = "wpass"
	f := newFixture(t, tenant, pbx.WelcomePassword, []events.RowResult{created(2, "100", tenant, "ann@wpass.example")})
	if _, err := f.handler().Handle(context.Background(), f.input(f.job, f.key)); err != nil {
		t.Fatal(err)
	}
	e := f.outbox(t)["ann@wpass.example"]
	if len(e) != 1 || !strings.Contains(e[0].text, "Temporary password: portal-100-wpass") || strings.Contains(e[0].text, "/invite/") {
		t.Fatalf("password-mode email = %+v", e)
	}
}

func TestHandlerRejectedAddressFailsThatRowOnly(t *testing.T) {
	ctx := context.Background()
	const tenant = "wrej"
	f := newFixture(t, tenant, pbx.WelcomeInvite, []events.RowResult{
		created(2, "100", tenant, "ann@wrej.example"), created(3, "101", tenant, "suppressed@wrej.example"), created(4, "102", tenant, "carl@wrej.example"),
	})
	stack.SES().RejectAddress("suppressed@wrej.example")
	out, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 2 || out.Failed != 1 {
		t.Fatalf("output = %+v", out)
	}
	r := f.emailResults(t, out)[3]
	if r.EmailStatus != events.EmailFailed || r.Code != pbx.CodeEmailRejected || !strings.Contains(r.Message, "rejected") {
		t.Fatalf("rejected row = %+v", r)
	}
	ledger, err := f.st.GetEmailLedger(ctx, tenant, Purpose, []string{"101-wrej"})
	if err != nil {
		t.Fatal(err)
	}
	if ledger["101-wrej"].Status != store.LedgerFailed {
		t.Fatalf("rejected row's ledger = %+v, want FAILED so a later run may try again", ledger["101-wrej"])
	}
	creds, _ := f.st.GetCredentials(ctx, tenant, []string{"101-wrej"})
	if creds["101-wrej"].Portal == nil {
		t.Fatal("the portal credential of an unsent email was dropped")
	}
}

// TestHandlerMissingCredentials: the ledger lives on the SECRET item, so a
// row whose SECRET item is gone is neither reserved nor sent, fails with
// EINTERNAL, and no item is created for it.
func TestHandlerMissingCredentials(t *testing.T) {
	ctx := context.Background()
	const tenant = "wmiss"
	f := newFixture(t, tenant, pbx.WelcomeInvite, []events.RowResult{
		created(2, "100", tenant, "ann@wmiss.example"), created(3, "101", tenant, "bob@wmiss.example"),
	})
	if _, err := stack.Clients.DynamoDB.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(stack.Table), Key: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: store.TenantPK(tenant)},
		store.AttrSK: &types.AttributeValueMemberS{Value: store.SecretSK("101-wmiss")},
	}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 1 || out.Failed != 1 || out.Uncertain != 0 {
		t.Fatalf("output = %+v", out)
	}
	if r := f.emailResults(t, out)[3]; r.EmailStatus != events.EmailFailed || r.Code != pbx.EINTERNAL {
		t.Fatalf("row without credentials = %+v", r)
	}
	if n := len(f.outbox(t)["bob@wmiss.example"]); n != 0 {
		t.Fatalf("%d emails to the row without credentials", n)
	}
	got, err := stack.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(stack.Table), ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: store.TenantPK(tenant)},
		store.AttrSK: &types.AttributeValueMemberS{Value: store.SecretSK("101-wmiss")},
	}})
	if err != nil || got.Item != nil {
		t.Fatalf("the ledger created a SECRET item: %v, %v", got.Item, err)
	}
}

func TestHandlerThrottling(t *testing.T) {
	ctx := context.Background()
	const tenant = "wthr"
	f := newFixture(t, tenant, pbx.WelcomeInvite, []events.RowResult{created(2, "100", tenant, "ann@wthr.example"), created(3, "101", tenant, "bob@wthr.example")})
	h := f.handler()
	h.Workers = 1 // the throttled calls are then the first ones, in order
	h.SES = throttleAfterGetAccount{stack.Clients.SES, 3}
	out, err := h.Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 2 || out.Failed != 0 || len(f.outbox(t)) != 2 {
		t.Fatalf("throttled run: output %+v", out)
	}

	// Throttled beyond the attempts: failed with code throttled, not sent,
	// and free to be sent by a later run.
	g := newFixture(t, "wthr2", pbx.WelcomeInvite, []events.RowResult{created(2, "100", "wthr2", "ann@wthr2.example")})
	h = g.handler()
	h.MaxAttempts = 2
	h.SES = throttleAfterGetAccount{stack.Clients.SES, 2}
	out, err = h.Handle(ctx, g.input(g.job, g.key))
	if err != nil {
		t.Fatal(err)
	}
	if r := g.emailResults(t, out)[2]; out.Failed != 1 || r.Code != pbx.CodeThrottled {
		t.Fatalf("output %+v, row %+v", out, r)
	}
	out, err = g.handler().Handle(ctx, g.input(g.job, g.key))
	if err != nil || out.Sent != 1 || len(g.outbox(t)["ann@wthr2.example"]) != 1 {
		t.Fatalf("retry after throttling: %+v, %v", out, err)
	}
}

// throttleAfterGetAccount is the real SES client; once the handler has read
// the account's quota, the endpoint throttles the next n calls (the SendEmail
// calls).
type throttleAfterGetAccount struct {
	*sesv2.Client
	n int
}

func (c throttleAfterGetAccount) GetAccount(ctx context.Context, in *sesv2.GetAccountInput, opts ...func(*sesv2.Options)) (*sesv2.GetAccountOutput, error) {
	out, err := c.Client.GetAccount(ctx, in, opts...)
	stack.SES().Throttle(c.n)
	return out, err
}

func TestHandlerUncertainIsNotResent(t *testing.T) {
	ctx := context.Background()
	const tenant = "wunc"
	f := newFixture(t, tenant, pbx.WelcomeInvite, []events.RowResult{created(2, "100", tenant, "ann@wunc.example"), created(3, "101", tenant, "bob@wunc.example")})
	// A run that died after reserving ann's email, before recording SES's answer.
	res, err := f.st.ReserveEmails(ctx, tenant, []store.EmailReservation{{User: "wunc-100", SIPUser: "100-wunc", Purpose: Purpose, Job: f.job, Line: 2, Attempt: "crashed", At: time.Now()}})
	if err != nil || !res[0].Reserved {
		t.Fatal(res, err)
	}
	out, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	r := f.emailResults(t, out)[2]
	if out.Sent != 1 || out.Uncertain != 1 || r.EmailStatus != events.EmailFailed || r.Code != pbx.CodeEmailUncertain || !strings.Contains(r.Message, "--resend-uncertain") {
		t.Fatalf("output %+v, ann %+v", out, r)
	}
	if n := len(f.outbox(t)["ann@wunc.example"]); n != 0 {
		t.Fatalf("an uncertain email was resent automatically (%d)", n)
	}
	out, err = f.handler().Send(ctx, f.input(f.job, f.key), Options{ResendUncertain: true})
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 2 || len(f.outbox(t)["ann@wunc.example"]) != 1 || len(f.outbox(t)["bob@wunc.example"]) != 1 {
		t.Fatalf("resend-uncertain: output %+v", out)
	}
}

func TestHandlerRejectsForeignKeys(t *testing.T) {
	const tenant = "wkey"
	f := newFixture(t, tenant, pbx.WelcomeInvite, []events.RowResult{created(2, "100", tenant, "ann@wkey.example")})
	for name, in := range map[string]events.WelcomeInput{
		"other tenant's prefix": {Tenant: "wother", Job: f.job, JobsBucket: stack.JobsBucket, Key: f.key},
		"other job's prefix":    {Tenant: tenant, Job: "jelse", JobsBucket: stack.JobsBucket, Key: f.key},
		"bad tenant":            {Tenant: "W-KEY", Job: f.job, JobsBucket: stack.JobsBucket, Key: f.key},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.handler().Handle(context.Background(), in)
			var e *pbx.Error
			if !errors.As(err, &e) || e.Code != pbx.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
	if len(f.outbox(t)) != 0 {
		t.Fatal("a rejected input sent email")
	}
}

func TestSendQuotaIsTheWorkersShare(t *testing.T) {
	stack.SES().SetMaxSendRate(14)
	stack.SES().SetMax24HourSend(200)
	stack.SES().SetSentLast24Hours(21)
	defer func() {
		stack.SES().SetMaxSendRate(1000)
		stack.SES().SetMax24HourSend(50000)
		stack.SES().SetSentLast24Hours(0)
	}()
	for _, tc := range []struct {
		concurrency int
		rate        float64
		daily       int
	}{{1, 14, 179}, {2, 7, 89}, {4, 3.5, 44}, {0, 14, 179}} {
		got, err := sendQuota(context.Background(), stack.Clients.SES, tc.concurrency)
		if err != nil {
			t.Fatal(err)
		}
		if float64(got.rate) != tc.rate || got.daily != tc.daily {
			t.Errorf("concurrency %d: %+v, want rate %v, daily %d", tc.concurrency, got, tc.rate, tc.daily)
		}
	}
}

func TestHandlerStaysUnderTheSendRate(t *testing.T) {
	const tenant = "wrate"
	var rows []events.RowResult
	for i := range 6 {
		ext := fmt.Sprint(100 + i)
		rows = append(rows, created(2+i, ext, tenant, "u"+ext+"@wrate.example"))
	}
	f := newFixture(t, tenant, pbx.WelcomeInvite, rows)
	stack.SES().SetMaxSendRate(20)
	defer stack.SES().SetMaxSendRate(1000)
	start := time.Now()
	out, err := f.handler().Handle(context.Background(), f.input(f.job, f.key)) // concurrency 2: 10/s
	if err != nil {
		t.Fatal(err)
	}
	// A lower bound only: 6 sends at 10/s with a burst of 1 need ≥ 0.5 s
	// however fast the machine; nothing here can pass by being slow.
	if elapsed := time.Since(start); out.Sent != 6 || elapsed < 500*time.Millisecond {
		t.Fatalf("sent %d in %v: faster than the worker's share of the send rate", out.Sent, elapsed)
	}
}

// TestHandlerCallsPerRow checks the DynamoDB and KMS budget: a batch of 50
// costs one BatchGetItem, two reservation and two finishing batches of
// conditional updates (chunks of 25) and one KMS Decrypt, not calls per row.
func TestHandlerCallsPerRow(t *testing.T) {
	const tenant = "wcalls"
	var rows []events.RowResult
	for i := range 50 {
		ext := fmt.Sprint(100 + i)
		rows = append(rows, created(2+i, ext, tenant, "u"+ext+"@wcalls.example"))
	}
	f := newFixture(t, tenant, pbx.WelcomeInvite, rows)
	h := f.handler()
	h.Secrets = secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID) // a cold key cache, as in a new Lambda
	before := calls.Snapshot()
	out, err := h.Handle(context.Background(), f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 50 {
		t.Fatalf("output = %+v", out)
	}
	d := calls.Snapshot().Sub(before)
	want := map[string]int{
		"DynamoDB.BatchGetItem":          2, // settings (system defaults + tenant), then the credentials
		"DynamoDB.BatchWriteItem":        2, // 50 invites, 25 a call
		"DynamoDB.BatchExecuteStatement": 4, // reserve and finish, 25 conditional updates a call
		"DynamoDB.GetItem":               0,
		"KMS.Decrypt":                    1,
		"SESv2.GetAccount":               1,
		"SESv2.SendEmail":                50,
	}
	for op, n := range want {
		if d.Calls[op] != n {
			t.Errorf("%s: %d calls, want %d\n%s", op, d.Calls[op], n, d.Table())
		}
	}
	if n := d.Service("DynamoDB"); n != 8 {
		t.Errorf("%d DynamoDB calls for 50 rows, want 8\n%s", n, d.Table())
	}
}

// suspendedSES is the real client behind an account that SES has just
// suspended: every send answers AccountSuspendedException (devstack has no
// hook for it).
type suspendedSES struct {
	*sesv2.Client
	sends *int
}

func (c suspendedSES) SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error) {
	*c.sends++
	return nil, &smithy.GenericAPIError{Code: "AccountSuspendedException", Message: "account suspended"}
}

func TestHandlerStopsWhenTheAccountCannotSend(t *testing.T) {
	ctx := context.Background()
	const tenant = "wsusp"
	var rows []events.RowResult
	for i := range 30 {
		ext := fmt.Sprint(100 + i)
		rows = append(rows, created(2+i, ext, tenant, "u"+ext+"@wsusp.example"))
	}
	f := newFixture(t, tenant, pbx.WelcomeInvite, rows)
	h := f.handler()
	h.Workers = 1
	sends := 0
	h.SES = suspendedSES{stack.Clients.SES, &sends}
	out, err := h.Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Failed != 30 || out.Sent != 0 {
		t.Fatalf("output = %+v", out)
	}
	if sends != 1 {
		t.Fatalf("%d SendEmail calls after the account was suspended, want 1", sends)
	}
	results := f.emailResults(t, out)
	if r := results[31]; r.Code != pbx.CodeEmailRejected || !strings.Contains(r.Message, "AccountSuspendedException") {
		t.Fatalf("last row = %+v", r)
	}
	// Nothing is left uncertain: the first chunk's reservations are
	// released, the second chunk was never reserved.
	ledger, err := f.st.GetEmailLedger(ctx, tenant, Purpose, []string{"100-wsusp", "124-wsusp", "125-wsusp"})
	if err != nil {
		t.Fatal(err)
	}
	if ledger["100-wsusp"].Status != store.LedgerFailed || ledger["124-wsusp"].Status != store.LedgerFailed {
		t.Errorf("first chunk ledger = %+v / %+v, want FAILED", ledger["100-wsusp"], ledger["124-wsusp"])
	}
	if _, ok := ledger["125-wsusp"]; ok {
		t.Errorf("second chunk was reserved: %+v", ledger["125-wsusp"])
	}
}

// TestDeferredInviteValidWhenSent: the invite item's expiry is the later of
// the stored one (create time + TTL) and send time + TTL, so an email sent
// days after the job (welcome=none, then bulkprov send-welcome) keeps its
// "valid for invite_ttl_hours" promise.
func TestDeferredInviteValidWhenSent(t *testing.T) {
	stored := time.Unix(inviteExpires(pbx.WelcomeInvite), 0)
	tests := []struct {
		name, tenant string
		sentAfter    time.Duration // after creation
		wantFromSend bool          // expiry = send time + TTL, else the stored expiry
	}{
		{"five days after creation", "wexplate", 5 * 24 * time.Hour, true},
		{"right at creation", "wexpnow", 0, false},
		{"before the stored expiry was set (clock skew)", "wexpskew", -time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, tt.tenant, pbx.WelcomeNone, []events.RowResult{created(2, "100", tt.tenant, "ann@"+tt.tenant+".example")})
			h := f.handler()
			s, err := h.Settings(ctx, f.tenant, f.job)
			if err != nil {
				t.Fatal(err)
			}
			ttl := time.Duration(s.Email.InviteTTLHours) * time.Hour
			sendTime := stored.Add(-ttl).Add(tt.sentAfter)
			h.Now = func() time.Time { return sendTime }
			out, err := h.Send(ctx, f.input(f.job, f.key), Options{SendDeferred: true})
			if err != nil {
				t.Fatal(err)
			}
			if out.Sent != 1 {
				t.Fatalf("output = %+v", out)
			}
			inv := inviteItem(t, f.secrets["100-"+tt.tenant].Portal)
			n, ok := inv[store.AttrTTL].(*types.AttributeValueMemberN)
			if !ok {
				t.Fatalf("invite item without expiry: %v", inv)
			}
			want := stored
			if tt.wantFromSend {
				want = sendTime.Add(ttl)
			}
			if n.Value != fmt.Sprint(want.Unix()) {
				t.Errorf("invite expires at %s, want %d (%s); sent %s, stored %s", n.Value, want.Unix(), want.UTC(), sendTime.UTC(), stored.UTC())
			}
		})
	}
}

func TestHandlerOneUserKeepsTheOthersOutcomes(t *testing.T) {
	ctx := context.Background()
	const tenant = "wone"
	rows := []events.RowResult{created(2, "100", tenant, "ann@wone.example"), created(3, "101", tenant, "bob@wone.example"), created(4, "102", tenant, "cy@wone.example")}
	f := newFixture(t, tenant, pbx.WelcomeNone, rows)
	// The workflow's run: every email held.
	out, err := f.handler().Handle(ctx, f.input(f.job, f.key))
	if err != nil || out.Deferred != 3 {
		t.Fatalf("held run: %+v, %v", out, err)
	}
	// The admin sends bob's alone.
	out, err = f.handler().Send(ctx, f.input(f.job, f.key), Options{SendDeferred: true, Extension: "101"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 1 || out.Handled() != 1 || out.Deferred != 0 {
		t.Fatalf("one-user run: %+v", out)
	}
	got := f.emailResults(t, out)
	if len(got) != 3 || got[2].EmailStatus != events.EmailDeferred || got[3].EmailStatus != events.EmailSent || got[4].EmailStatus != events.EmailDeferred {
		t.Fatalf("email results after the one-user run: %+v", got)
	}
	box := f.outbox(t)
	if len(box["bob@wone.example"]) != 1 || len(box["ann@wone.example"]) != 0 || len(box["cy@wone.example"]) != 0 {
		t.Fatalf("outbox: %v", keys(box))
	}
	// An extension that is not in the batch touches nothing.
	out, err = f.handler().Send(ctx, f.input(f.job, f.key), Options{SendDeferred: true, Extension: "999"})
	if err != nil || out.Handled() != 0 || out.Sent != 0 {
		t.Fatalf("unknown extension: %+v, %v", out, err)
	}
	if got := f.emailResults(t, events.WelcomeOutput{EmailKey: jobfiles.EmailResultKey(tenant, f.job, out.Batch), Batch: out.Batch}); got[3].EmailStatus != events.EmailSent || len(got) != 3 {
		t.Fatalf("email results after an unknown extension: %+v", got)
	}
}
