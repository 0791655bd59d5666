package records_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/records"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// One devstack (DynamoDB Local, S3, KMS) for the package; tests keep apart
// by tenant, DID and MAC and do not run in parallel, so whole-table scans
// before and after a replay are meaningful.
var (
	stack   *devstack.Stack
	counter callstats.Counter
)

func TestMain(m *testing.M) {
	cfg := devstack.Config{APIOptions: []func(*middleware.Stack) error{counter.Middleware()}}
	os.Exit(testkit.ForTests(m, cfg, func(s *devstack.Stack) { stack = s }))
}

// jobCreated is recent: DynamoDB Local applies TTL, and invite items
// expire InviteTTLHours after the job's creation.
var jobCreated = time.Now().UTC().Truncate(time.Second)

var inventoryOnce sync.Once

const provisioningOn = `{"provisioning": {"enabled": true, "registrar": "sip.example", "default_phone_model": "yealink-t54w"}}`

type env struct {
	tenant string
	st     *store.Store
	box    *secrets.Box
	h      *records.Handler
}

func newEnv(t testing.TB, tenant, overrides string) *env {
	t.Helper()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	if err := st.PutTenant(context.Background(), pbx.Tenant{Name: tenant, DisplayName: tenant}, []byte(overrides)); err != nil {
		t.Fatal(err)
	}
	// DIDs come from the operator (issue #17): the tests' numbers are in
	// the free inventory, every test tenant may take them, and +14155559999
	// is a caller ID the operator allows.
	inventoryOnce.Do(func() {
		var dids []string
		for _, r := range [][2]string{{"+14155551000", "+14155551199"}, {"+14155552000", "+14155552009"},
			{"+14155553000", "+14155553009"}, {"+14155554000", "+14155554099"}, {"+14155555000", "+14155555009"}} {
			n, err := store.ExpandDIDRange(r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			dids = append(dids, n...)
		}
		if _, _, err := st.AddDIDs(context.Background(), dids, ""); err != nil {
			t.Fatal(err)
		}
	})
	if err := st.SetDIDPolicy(context.Background(), tenant, store.DIDPolicy{ClaimFree: true, CallerIDs: []string{"+14155559999"}}); err != nil {
		t.Fatal(err)
	}
	e := &env{tenant: tenant, st: st, box: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)}
	e.h = &records.Handler{Store: st, S3: stack.Clients.S3, Secrets: e.box}
	return e
}

func options(mod func(*pbx.Options)) pbx.Options {
	o := pbx.Options{OnExisting: pbx.OnExistingFail, Welcome: pbx.WelcomeInvite}
	if mod != nil {
		mod(&o)
	}
	return o
}

// job stores a job item the way ingest does.
func (e *env) job(t testing.TB, id string, o pbx.Options) string {
	t.Helper()
	if _, _, err := e.st.CreateJob(context.Background(), jobmodel.Job{Tenant: e.tenant, ID: id, Status: jobmodel.Running, Options: o, CreatedAt: jobCreated}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) batch(job string, rows ...pbx.UserRow) events.RecordsBatch {
	return events.RecordsBatch{
		BatchInput: events.BatchContext{Tenant: e.tenant, Job: job, JobsBucket: stack.JobsBucket, ResultsKey: "jobs/" + e.tenant + "/" + job + "/results/"},
		Items:      rows,
	}
}

func (e *env) run(t *testing.T, job string, rows ...pbx.UserRow) events.BatchResult {
	t.Helper()
	res, err := e.h.Handle(context.Background(), e.batch(job, rows...))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != len(rows) {
		t.Fatalf("%d row results for %d rows", len(res.Rows), len(rows))
	}
	return res
}

// item reads one item as plain Go values (S → string, N → float64,
// B → []byte, M → map); nil when absent.
// group returns one object group (User, Ext, Mailbox, Endpoint, Contact)
// of the EXT# item of extension ext, nil when there is none.
func group(t *testing.T, pk, ext, name string) map[string]any {
	t.Helper()
	g, _ := item(t, pk, "EXT#"+ext)[name].(map[string]any)
	return g
}

func item(t *testing.T, pk, sk string) map[string]any {
	t.Helper()
	out, err := stack.Clients.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(stack.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Item == nil {
		return nil
	}
	var m map[string]any
	if err := attributevalue.UnmarshalMap(out.Item, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// scan returns the whole table as canonical JSON lines, sorted.
func scan(t *testing.T) []string {
	t.Helper()
	var lines []string
	p := dynamodb.NewScanPaginator(stack.Clients.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(stack.Table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(m) // map keys are sorted
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, string(b))
		}
	}
	slices.Sort(lines)
	return lines
}

func wantStatus(t *testing.T, res events.BatchResult, want ...string) {
	t.Helper()
	for i, r := range res.Rows {
		if r.Status != want[i] {
			t.Errorf("line %d (ext %s): status %s %s %q, want %s", r.Line, r.Extension, r.Status, r.Code, r.Message, want[i])
		}
	}
}

func wantFailed(t *testing.T, r events.RowResult, code string) {
	t.Helper()
	if r.Status != events.StatusFailed || r.Code != code || r.Message == "" {
		t.Errorf("line %d: %s %s %q, want failed %s with a message", r.Line, r.Status, r.Code, r.Message, code)
	}
}

func TestCreatesEveryObject(t *testing.T) {
	e := newEnv(t, "objects", provisioningOn)
	job := e.job(t, "job-objects", options(func(o *pbx.Options) { o.CreateDIDs = true }))
	row := pbx.UserRow{Line: 2, Extension: "100", FirstName: "Ann", LastName: "Lee", Email: "ann@objects.example",
		Mobile: "+14155550123", DID: "+14155551000", MAC: "0015651a0001", Department: "Sales"}
	res := e.run(t, job, row)
	wantStatus(t, res, events.StatusCreated)

	r := res.Rows[0]
	want := events.RowResult{Line: 2, Extension: "100", Name: "Ann Lee", User: "objects-100", SIPUser: "100-objects",
		Email: "ann@objects.example", DID: "+14155551000", MAC: "0015651a0001", PhoneModel: "yealink-t54w", Status: events.StatusCreated}
	if fmt.Sprint(r) != fmt.Sprint(want) {
		t.Errorf("row result\n got %+v\nwant %+v", r, want)
	}
	if res.Batch != "b0000002" || res.ResultKey != "jobs/objects/job-objects/results/b0000002.json" {
		t.Errorf("batch %s, result key %s", res.Batch, res.ResultKey)
	}

	pk := "TENANT#objects"
	checkObjectItems(t, pk, job)
	checkRowItemsOnly(t, pk)
	checkStoredResult(t, res)
}

// checkObjectItems checks every item one created row writes: its EXT# item
// (group by group), the DID and MAC owner claims, and its SECRET# item.
func checkObjectItems(t *testing.T, pk, job string) {
	expires := jobCreated.Add(72 * time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		pk, sk string
		want   map[string]any
	}{
		{pk, "EXT#100", map[string]any{"Type": "EXT", "Number": "100", "Job": job, "Line": 2.0, "CreatedAt": jobCreated.Format(time.RFC3339),
			"User": map[string]any{"Name": "objects-100", "FirstName": "Ann", "LastName": "Lee",
				"Email": "ann@objects.example", "Department": "Sales", "WelcomeMode": "invite", "InviteExpires": expires},
			"Ext":     map[string]any{"CallScript": "ring-then-voicemail"},
			"Mailbox": map[string]any{"Owner": "Ann Lee", "Email": "ann@objects.example", "Pager": "+14155550123"},
			"Endpoint": map[string]any{"SIPUser": "100-objects", "CallerIDName": "Ann Lee",
				"CallerIDNum": "100", "MAC": "0015651a0001", "Model": "yealink-t54w", "DID": "+14155551000"},
			"Contact": map[string]any{"FirstName": "Ann", "LastName": "Lee", "Email": "ann@objects.example", "Department": "Sales"}}},
		{"DID#+14155551000", "OWNER", map[string]any{"Tenant": "objects", "Number": "+14155551000", "Extension": "100"}},
		{"MAC#0015651a0001", "OWNER", map[string]any{"Tenant": "objects", "Endpoint": "100-objects", "MAC": "0015651a0001"}},
		{pk, "SECRET#100-objects", map[string]any{"SIPUser": "100-objects", "Extension": "100", "PortalKind": "invite", "Job": job}},
	} {
		checkItem(t, tc.pk, tc.sk, tc.want)
	}
}

// checkItem compares an item's attributes with want; a map in want is a
// group of the EXT# item, compared field by field.
func checkItem(t *testing.T, pk, sk string, want map[string]any) {
	got := item(t, pk, sk)
	if got == nil {
		t.Errorf("%s/%s missing", pk, sk)
		return
	}
	for k, v := range want {
		if group, ok := v.(map[string]any); ok { // a group of the EXT# item
			g, _ := got[k].(map[string]any)
			for f, fv := range group {
				if fmt.Sprint(g[f]) != fmt.Sprint(fv) {
					t.Errorf("%s/%s %s.%s = %v, want %v", pk, sk, k, f, g[f], fv)
				}
			}
			continue
		}
		if fmt.Sprint(got[k]) != fmt.Sprint(v) {
			t.Errorf("%s/%s %s = %v, want %v", pk, sk, k, got[k], v)
		}
	}
}

// checkRowItemsOnly: the row is two items in the tenant's partition, EXT#
// and SECRET#, plus its DID's; create-records leaves the invite item to the
// welcome email.
func checkRowItemsOnly(t *testing.T, pk string) {
	for _, gone := range []string{"USER#100", "MAILBOX#100", "ENDPOINT#100-objects", "CONTACT#100"} {
		if item(t, pk, gone) != nil {
			t.Errorf("%s/%s exists: the EXT# item holds it", pk, gone)
		}
	}
	user := item(t, pk, "EXT#100")["User"].(map[string]any)
	// The invite item is the welcome email's to write; its expiry waits on
	// the SECRET item.
	if invite := item(t, "INVITE#"+user["InviteHash"].(string), "INVITE"); invite != nil {
		t.Errorf("create-records wrote an invite item: %v", invite)
	}
	if secret := item(t, pk, "SECRET#100-objects"); secret["InviteExpires"] != float64(jobCreated.Add(72*time.Hour).Unix()) {
		t.Errorf("SECRET item InviteExpires = %v", secret["InviteExpires"])
	}
	if _, has := user["PasswordHash"]; has {
		t.Error("invite-mode user has a password hash")
	}
}

// checkStoredResult: the results object holds the same rows as returned.
func checkStoredResult(t *testing.T, res events.BatchResult) {
	obj, err := stack.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(stack.JobsBucket), Key: aws.String(res.ResultKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	var stored events.BatchResult
	if err := json.NewDecoder(obj.Body).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(stored) != fmt.Sprint(res) {
		t.Errorf("stored result %+v\n!= returned %+v", stored, res)
	}
}

func TestCallerIDAndDevice(t *testing.T) {
	e := newEnv(t, "callerid", `{"provisioning": {"enabled": false}}`)
	job := e.job(t, "job-cid", options(func(o *pbx.Options) { o.CreateDIDs, o.DIDsAsCallerID = true, true }))
	res := e.run(t, job,
		pbx.UserRow{Line: 2, Extension: "200", FirstName: "Bo", DID: "+14155551100", MAC: "0015651a0100"},
		pbx.UserRow{Line: 3, Extension: "201", FirstName: "Cy", DID: "+14155551101", CallerID: "+14155559999"},
		pbx.UserRow{Line: 4, Extension: "202", FirstName: "Di"},
	)
	wantStatus(t, res, events.StatusCreated, events.StatusCreated, events.StatusCreated)
	for ext, num := range map[string]string{"200": "+14155551100", "201": "+14155559999", "202": "202"} {
		if got := group(t, "TENANT#callerid", ext, "Endpoint")["CallerIDNum"]; got != num {
			t.Errorf("extension %s caller ID number = %v, want %s", ext, got, num)
		}
	}
	// Provisioning is off: the MAC is ignored with a warning, not claimed.
	if res.Rows[0].MAC != "" || len(res.Rows[0].Warnings) != 1 || !strings.HasPrefix(res.Rows[0].Warnings[0], pbx.CodeMACIgnored) {
		t.Errorf("row with an ignored MAC: mac %q warnings %q", res.Rows[0].MAC, res.Rows[0].Warnings)
	}
	if item(t, "MAC#0015651a0100", "OWNER") != nil {
		t.Error("an ignored MAC was claimed")
	}
	if _, has := group(t, "TENANT#callerid", "200", "Endpoint")["MAC"]; has {
		t.Error("an ignored MAC was put on the endpoint")
	}
}

func TestCredentials(t *testing.T) {
	for _, mode := range []pbx.WelcomeMode{pbx.WelcomeInvite, pbx.WelcomePassword, pbx.WelcomeNone} {
		t.Run(string(mode), func(t *testing.T) { testCredentials(t, mode) })
	}
}

// testCredentials creates three rows in one welcome mode and checks every
// row's sealed secrets, that no plaintext leaks, and that bindings hold.
func testCredentials(t *testing.T, mode pbx.WelcomeMode) {
	ctx := context.Background()
	tenant := "cred" + string(mode)
	e := newEnv(t, tenant, `{"voicemail_pin_length": 8, "password": {"length": 16, "require_upper": true, "require_lower": true, "require_digit": true, "require_other": true}}`)
	job := e.job(t, "job-"+string(mode), options(func(o *pbx.Options) { o.Welcome = mode }))
	var rows []pbx.UserRow
	for i := range 3 {
		rows = append(rows, pbx.UserRow{Line: 2 + i, Extension: fmt.Sprint(300 + i), FirstName: "U", Email: fmt.Sprintf("u%d@x.example", i)})
	}
	res := e.run(t, job, rows...)
	wantStatus(t, res, events.StatusCreated, events.StatusCreated, events.StatusCreated)

	sipUsers := []string{}
	for _, r := range res.Rows {
		sipUsers = append(sipUsers, r.SIPUser)
	}
	creds, err := e.st.GetCredentials(ctx, tenant, sipUsers)
	if err != nil {
		t.Fatal(err)
	}
	reader := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID) // another Lambda's box
	var plaintexts []string
	for _, r := range res.Rows {
		c, ok := creds[r.SIPUser]
		if !ok || c.Portal == nil {
			t.Fatalf("%s: credentials %+v", r.SIPUser, c)
		}
		plaintexts = append(plaintexts, checkRowCredentials(t, reader, tenant, mode, r, c)...)
	}
	checkNoPlaintextSecrets(t, res, plaintexts)
	// Bindings hold: a row's PIN does not open as another row's.
	c0, c1 := creds[sipUsers[0]], creds[sipUsers[1]]
	if _, err := reader.Open(ctx, tenant, c0.PIN, pbx.PINBinding(c1.SIPUser)); !errors.Is(err, secrets.ErrCannotOpen) {
		t.Errorf("PIN opened under another endpoint's binding: %v", err)
	}
}

// checkRowCredentials opens one row's SIP secret, PIN and portal credential
// with reader, checks each, and returns the three plaintexts.
func checkRowCredentials(t *testing.T, reader *secrets.Box, tenant string, mode pbx.WelcomeMode, r events.RowResult, c pbx.Credentials) []string {
	ctx := context.Background()
	sip, err := reader.Open(ctx, tenant, c.SIPSecret, pbx.SIPSecretBinding(r.SIPUser))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9]{24}$`).Match(sip) {
		t.Errorf("SIP secret %q is not 24 letters and digits", sip)
	}
	pin, err := reader.Open(ctx, tenant, c.PIN, pbx.PINBinding(r.SIPUser))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{8}$`).Match(pin) || secrets.TrivialPIN(string(pin), r.Extension) {
		t.Errorf("PIN %q: want 8 digits, not trivial", pin)
	}
	portal, err := reader.Open(ctx, tenant, *c.Portal, pbx.PortalBinding(r.SIPUser))
	if err != nil {
		t.Fatal(err)
	}
	checkPortalCredential(t, mode, c, string(portal), group(t, "TENANT#"+tenant, r.Extension, "User"))
	return []string{string(sip), string(pin), string(portal)}
}

// checkPortalCredential: password mode stores an Argon2id hash of a temporary
// password the user must change; the other modes store sha256 of an invite token.
func checkPortalCredential(t *testing.T, mode pbx.WelcomeMode, c pbx.Credentials, portal string, user map[string]any) {
	switch mode {
	case pbx.WelcomePassword:
		if c.PortalKind != pbx.WelcomePassword || len(portal) != 16 || user["MustChangePassword"] != true {
			t.Errorf("password mode: kind %s, password length %d, must change %v", c.PortalKind, len(portal), user["MustChangePassword"])
		}
		ok, err := secrets.VerifyPassword(portal, user["PasswordHash"].(string))
		if err != nil || !ok {
			t.Errorf("temporary password does not verify against the Argon2id hash: %v", err)
		}
		if _, has := user["InviteHash"]; has {
			t.Error("password-mode user has an invite hash")
		}
	default:
		if c.PortalKind != pbx.WelcomeInvite || user["InviteHash"] != secrets.InviteHash(portal) {
			t.Errorf("invite: kind %s, stored hash %v is not sha256(token)", c.PortalKind, user["InviteHash"])
		}
		if c.InviteExpires == 0 {
			t.Error("invite credentials without an expiry for the welcome email's invite item")
		}
	}
}

// checkNoPlaintextSecrets: no plaintext secret anywhere: not in the table
// (outside sealed values, which are ciphertext), not in the results.
func checkNoPlaintextSecrets(t *testing.T, res events.BatchResult, plaintexts []string) {
	table := strings.Join(scan(t), "\n")
	result, _ := json.Marshal(res)
	obj, err := stack.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(stack.JobsBucket), Key: aws.String(res.ResultKey)})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	for _, p := range plaintexts {
		for where, text := range map[string]string{"table": table, "result": string(result), "results object": string(stored)} {
			if strings.Contains(text, p) {
				t.Errorf("a generated secret appears in the %s", where)
			}
		}
	}
}

func TestDIDs(t *testing.T) {
	owner := newEnv(t, "didowner", "")
	other := newEnv(t, "didother", "")
	// didowner claims two DIDs with create-dids.
	res := owner.run(t, owner.job(t, "job-claim", options(func(o *pbx.Options) { o.CreateDIDs = true })),
		pbx.UserRow{Line: 2, Extension: "400", DID: "+14155552000"},
		pbx.UserRow{Line: 3, Extension: "401", DID: "+14155552001"})
	wantStatus(t, res, events.StatusCreated, events.StatusCreated)
	if item(t, "DID#+14155552000", "OWNER")["Tenant"] != "didowner" {
		t.Fatal("create-dids did not assign the DID to the tenant")
	}
	// A DID the tenant already owns (its route now removed by an admin)
	// can be routed without create-dids.
	if _, err := stack.Clients.DynamoDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{TableName: aws.String(stack.Table),
		Key:              map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "DID#+14155552001"}, "SK": &types.AttributeValueMemberS{Value: "OWNER"}},
		UpdateExpression: aws.String("REMOVE Extension")}); err != nil {
		t.Fatal(err)
	}
	res = owner.run(t, owner.job(t, "job-route", options(nil)),
		pbx.UserRow{Line: 2, Extension: "410", DID: "+14155552001"}, // owned, unrouted: routed now
		pbx.UserRow{Line: 3, Extension: "411", DID: "+14155552999"}, // not in the inventory: did_unavailable
		pbx.UserRow{Line: 4, Extension: "412", DID: "+14155552000"}, // owned, routed to 400: did_taken
		pbx.UserRow{Line: 5, Extension: "413"})
	wantStatus(t, res, events.StatusCreated, events.StatusFailed, events.StatusFailed, events.StatusCreated)
	wantFailed(t, res.Rows[1], pbx.CodeDIDUnavailable)
	wantFailed(t, res.Rows[2], pbx.CodeDIDTaken)
	if r := item(t, "DID#+14155552001", "OWNER"); r == nil || r["Extension"] != "410" || r["Tenant"] != "didowner" {
		t.Errorf("route = %v, want to 410", r)
	}
	if item(t, "TENANT#didowner", "EXT#411") != nil || item(t, "TENANT#didowner", "EXT#412") != nil {
		t.Error("a failed row left items behind")
	}

	// Another tenant cannot take them, with or without create-dids, and
	// learns nothing about the owner.
	for _, create := range []bool{true, false} {
		res := other.run(t, other.job(t, fmt.Sprint("job-steal-", create), options(func(o *pbx.Options) { o.CreateDIDs = create })),
			pbx.UserRow{Line: 2, Extension: "500", DID: "+14155552000"},
			pbx.UserRow{Line: 3, Extension: "501"})
		// One answer with or without create-dids (issue #17).
		wantFailed(t, res.Rows[0], pbx.CodeDIDUnavailable)
		if strings.Contains(res.Rows[0].Message, "didowner") {
			t.Errorf("message names the owner: %q", res.Rows[0].Message)
		}
		if res.Rows[1].Status != events.StatusCreated {
			t.Errorf("the neighbour of a stolen DID: %+v", res.Rows[1])
		}
		for _, sk := range []string{"EXT#501", "SECRET#501-didother"} {
			_, _ = stack.Clients.DynamoDB.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(stack.Table),
				Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "TENANT#didother"}, "SK": &types.AttributeValueMemberS{Value: sk}}})
		}
	}
	if o := item(t, "DID#+14155552000", "OWNER"); o["Tenant"] != "didowner" {
		t.Errorf("DID owner = %v", o)
	}
}

func TestConflictsFailOnlyTheirRow(t *testing.T) {
	a := newEnv(t, "conflicta", provisioningOn)
	b := newEnv(t, "conflictb", provisioningOn)
	wantStatus(t, a.run(t, a.job(t, "job-a", options(func(o *pbx.Options) { o.CreateDIDs = true })),
		pbx.UserRow{Line: 2, Extension: "600", DID: "+14155553000", MAC: "0015651a0600"}),
		events.StatusCreated)

	before := counter.Snapshot()
	b.h.RowsPerTransaction = 10 // all rows in one transaction
	res := b.run(t, b.job(t, "job-b", options(func(o *pbx.Options) { o.CreateDIDs = true })),
		pbx.UserRow{Line: 2, Extension: "600", FirstName: "Ok", MAC: "0015651a0601"},
		pbx.UserRow{Line: 3, Extension: "601", DID: "+14155553000"}, // a's DID
		pbx.UserRow{Line: 4, Extension: "602", MAC: "0015651a0600"}, // a's MAC
		pbx.UserRow{Line: 5, Extension: "603", DID: "+14155553001"},
		pbx.UserRow{Line: 6, Extension: "604"})
	wantStatus(t, res, events.StatusCreated, events.StatusFailed, events.StatusFailed, events.StatusCreated, events.StatusCreated)
	wantFailed(t, res.Rows[1], pbx.CodeDIDUnavailable)
	wantFailed(t, res.Rows[2], pbx.CodeMACTaken)
	d := counter.Snapshot().Sub(before)
	if n := d.Calls["DynamoDB.TransactWriteItems"]; n < 2 || n > 3 {
		t.Errorf("%d transactions for 5 rows sharing one with 2 bad rows, want 2-3 (submit, resubmit)", n)
	}

	// The extension exists (made by another job) and the row is not
	// marked for update: extension_exists, even in a new job of the tenant.
	res = b.run(t, b.job(t, "job-b2", options(nil)),
		pbx.UserRow{Line: 2, Extension: "604"},
		pbx.UserRow{Line: 3, Extension: "605"})
	wantStatus(t, res, events.StatusFailed, events.StatusCreated)
	wantFailed(t, res.Rows[0], pbx.CodeExtensionExists)
	if u := item(t, "TENANT#conflictb", "EXT#604"); u["Job"] != "job-b" {
		t.Errorf("existing user overwritten: %v", u)
	}
	// A MAC on another endpoint of the same tenant is not moved silently.
	res = b.run(t, b.job(t, "job-b3", options(nil)), pbx.UserRow{Line: 2, Extension: "606", MAC: "0015651a0601"})
	wantFailed(t, res.Rows[0], pbx.CodeMACTaken)
}

func TestReplayIsANoOp(t *testing.T) {
	e := newEnv(t, "replay", provisioningOn)
	job := e.job(t, "job-replay", options(func(o *pbx.Options) { o.CreateDIDs = true; o.Welcome = pbx.WelcomePassword }))
	var rows []pbx.UserRow
	for i := range 15 {
		rows = append(rows, pbx.UserRow{Line: 2 + i, Extension: fmt.Sprint(700 + i), FirstName: "R", LastName: fmt.Sprint(i),
			DID: fmt.Sprintf("+1415555%04d", 4000+i), MAC: fmt.Sprintf("0015651a%04d", 700+i)})
	}
	first := e.run(t, job, rows...)
	tableBefore := scan(t)
	creds, err := e.st.GetCredentials(context.Background(), "replay", []string{"700-replay"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // Lambda retry, then a Step Functions retry of the batch
		again := e.run(t, job, rows...)
		for i, r := range again.Rows {
			if r.Status != events.StatusCreated || fmt.Sprint(r) != fmt.Sprint(first.Rows[i]) {
				t.Errorf("replayed row %d = %+v, want %+v", r.Line, r, first.Rows[i])
			}
		}
	}
	tableAfter := scan(t)
	if strings.Join(tableBefore, "\n") != strings.Join(tableAfter, "\n") {
		t.Errorf("replay changed the table: %d items before, %d after", len(tableBefore), len(tableAfter))
	}
	after, _ := e.st.GetCredentials(context.Background(), "replay", []string{"700-replay"})
	if !reflect.DeepEqual(after, creds) {
		t.Error("replay regenerated credentials")
	}
}

// crashAfterFirstTransaction makes a DynamoDB client whose first successful
// TransactWriteItems reports an error after it committed, as when a Lambda
// dies right after the call.
func crashAfterFirstTransaction() *dynamodb.Client {
	crashed := false
	mw := func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("crash", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			if _, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok && err == nil && !crashed {
				crashed = true
				return out, md, errors.New("injected crash after commit")
			}
			return out, md, err
		}), middleware.After)
	}
	return dynamodb.NewFromConfig(stack.Clients.Config, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(stack.Endpoints.DynamoDB)
		o.APIOptions = append(o.APIOptions, mw)
	})
}

func TestCrashBetweenTransactionsThenRerun(t *testing.T) {
	e := newEnv(t, "crash", "")
	job := e.job(t, "job-crash", options(nil))
	var rows []pbx.UserRow
	for i := range 6 {
		rows = append(rows, pbx.UserRow{Line: 2 + i, Extension: fmt.Sprint(800 + i), FirstName: "C"})
	}
	crashing := *e.h
	crashing.Store = store.New(crashAfterFirstTransaction(), stack.Table)
	crashing.RowsPerTransaction = 2
	crashing.Concurrency = 1 // a crash point between transactions
	if _, err := crashing.Handle(context.Background(), e.batch(job, rows...)); err == nil {
		t.Fatal("the crashed batch reported success")
	}
	if item(t, "TENANT#crash", "EXT#800") == nil || item(t, "TENANT#crash", "EXT#802") != nil {
		t.Fatal("want exactly the first transaction's rows written before the crash")
	}
	e.h.RowsPerTransaction = 2
	res := e.run(t, job, rows...)
	wantStatus(t, res, slices.Repeat([]string{events.StatusCreated}, 6)...)
	n := 0
	for _, line := range scan(t) {
		if strings.Contains(line, `"PK":"TENANT#crash"`) && strings.Contains(line, `"SK":"EXT#`) {
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d users after the rerun, want 6", n)
	}
}

func TestUpdateInPlace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "update", provisioningOn)
	created := e.run(t, e.job(t, "job-u1", options(func(o *pbx.Options) { o.CreateDIDs = true })),
		pbx.UserRow{Line: 2, Extension: "900", FirstName: "Old", LastName: "Name", Email: "old@u.example", DID: "+14155555000", MAC: "0015651a0900"})
	wantStatus(t, created, events.StatusCreated)
	credsBefore, err := e.st.GetCredentials(ctx, "update", []string{"900-update"})
	if err != nil {
		t.Fatal(err)
	}
	secretBefore := item(t, "TENANT#update", "SECRET#900-update")
	userBefore := group(t, "TENANT#update", "900", "User")

	upd := options(func(o *pbx.Options) { o.OnExisting, o.CreateDIDs, o.DIDsAsCallerID = pbx.OnExistingUpdate, true, true })
	row := pbx.UserRow{Line: 2, Extension: "900", FirstName: "New", LastName: "Name", Email: "new@u.example", Mobile: "+14155550900",
		DID: "+14155555001", MAC: "0015651a0901", Exists: true}
	for i := range 2 { // the second run is a replay of the update
		res := e.run(t, e.job(t, "job-u2", upd), row)
		wantStatus(t, res, events.StatusUpdated)
		if i == 0 {
			continue
		}
		u := group(t, "TENANT#update", "900", "User")
		if x := item(t, "TENANT#update", "EXT#900"); x["Job"] != "job-u1" || x["UpdatedBy"] != "job-u2" {
			t.Errorf("EXT# item after update: Job %v, UpdatedBy %v", x["Job"], x["UpdatedBy"])
		}
		if u["FirstName"] != "New" || u["Email"] != "new@u.example" || u["InviteHash"] != userBefore["InviteHash"] {
			t.Errorf("user after update = %v", u)
		}
		if m := group(t, "TENANT#update", "900", "Mailbox"); m["Owner"] != "New Name" || m["Pager"] != "+14155550900" {
			t.Errorf("mailbox after update = %v", m)
		}
		ep := group(t, "TENANT#update", "900", "Endpoint")
		if ep["MAC"] != "0015651a0901" || ep["DID"] != "+14155555001" || ep["CallerIDNum"] != "+14155555001" || ep["CallerIDName"] != "New Name" {
			t.Errorf("endpoint after update = %v", ep)
		}
		if c := group(t, "TENANT#update", "900", "Contact"); c["FirstName"] != "New" || c["Email"] != "new@u.example" {
			t.Errorf("contact after update = %v", c)
		}
		if item(t, "MAC#0015651a0900", "OWNER") != nil || item(t, "MAC#0015651a0901", "OWNER")["Endpoint"] != "900-update" {
			t.Error("the MAC change did not move the owner item")
		}
		if old := item(t, "DID#+14155555000", "OWNER"); old == nil || old["Extension"] != nil || old["Tenant"] != "update" {
			t.Errorf("previous DID after update = %v, want kept without a route", old)
		}
		if item(t, "DID#+14155555001", "OWNER")["Extension"] != "900" {
			t.Error("the DID change did not move the route")
		}
		if fmt.Sprint(item(t, "TENANT#update", "SECRET#900-update")) != fmt.Sprint(secretBefore) {
			t.Error("update rewrote the credentials")
		}
		after, _ := e.st.GetCredentials(ctx, "update", []string{"900-update"})
		if !reflect.DeepEqual(after, credsBefore) {
			t.Error("update regenerated credentials")
		}
	}
	// An update row whose extension vanished fails alone.
	res := e.run(t, e.job(t, "job-u3", upd), pbx.UserRow{Line: 2, Extension: "999", FirstName: "Ghost", Exists: true})
	wantFailed(t, res.Rows[0], pbx.ENOTFOUND)
}

// throttlingClient makes a DynamoDB client whose next n TransactWriteItems
// calls fail with ThrottlingException without reaching the table.
func throttlingClient(n *atomic.Int64) *dynamodb.Client {
	mw := func(s *middleware.Stack) error {
		return s.Initialize.Add(middleware.InitializeMiddlewareFunc("throttle", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if _, ok := in.Parameters.(*dynamodb.TransactWriteItemsInput); ok && n.Add(-1) >= 0 {
				return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "ThrottlingException", Message: "injected"}
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.After)
	}
	return dynamodb.NewFromConfig(stack.Clients.Config, func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(stack.Endpoints.DynamoDB)
		o.APIOptions = append(o.APIOptions, mw)
	})
}

func TestThrottling(t *testing.T) {
	e := newEnv(t, "throttle", "")
	var throttles atomic.Int64
	h := *e.h
	h.Store = store.New(throttlingClient(&throttles), stack.Table)
	h.RowsPerTransaction = 2

	throttles.Store(3) // a short burst: retried with backoff, all rows created
	res, err := h.Handle(context.Background(), e.batch(e.job(t, "job-t1", options(nil)),
		pbx.UserRow{Line: 2, Extension: "110"}, pbx.UserRow{Line: 3, Extension: "111"}, pbx.UserRow{Line: 4, Extension: "112"}))
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, res, events.StatusCreated, events.StatusCreated, events.StatusCreated)

	throttles.Store(1 << 30) // throttled for good: the rows fail as throttled, the batch does not
	res, err = h.Handle(context.Background(), e.batch(e.job(t, "job-t2", options(nil)), pbx.UserRow{Line: 2, Extension: "120"}))
	if err != nil {
		t.Fatal(err)
	}
	wantFailed(t, res.Rows[0], pbx.CodeThrottled)
	if item(t, "TENANT#throttle", "EXT#120") != nil {
		t.Error("a throttled row was written")
	}
}

func TestRefusesForeignJobsBucket(t *testing.T) {
	e := newEnv(t, "bucket", "")
	h := *e.h
	h.JobsBucket = stack.JobsBucket
	b := e.batch(e.job(t, "job-bucket", options(nil)), pbx.UserRow{Line: 2, Extension: "130"})
	b.BatchInput.JobsBucket = "someone-elses-bucket"
	if _, err := h.Handle(context.Background(), b); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Fatalf("Handle with a foreign jobs bucket = %v, want EINVALID", err)
	}
	if item(t, "TENANT#bucket", "EXT#130") != nil {
		t.Error("records were created for a refused batch")
	}
}
