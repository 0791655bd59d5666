package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestRowsAndCredentials writes rows with WriteRows and reads their
// credentials back, against DynamoDB Local and devstack's KMS.
func TestRowsAndCredentials(t *testing.T) {
	f := newRowsFixture(t)
	t.Run("credentials in chunks of 100", func(t *testing.T) { testCredentialChunks(t, f) })
	t.Run("invites in batches of 25", func(t *testing.T) { testInviteBatches(t, f) })
	t.Run("two rows on one item go to separate transactions", func(t *testing.T) { testRowsSharingAnItem(t, f) })
	t.Run("a DID row writes one DID item: its owner and route", func(t *testing.T) { testDIDRowItem(t, f) })
	t.Run("concurrent transactions", func(t *testing.T) { testConcurrentTransactions(t, f) })
}

// rowsFixture is what TestRowsAndCredentials's subtests share.
type rowsFixture struct {
	ctx      context.Context
	st       *store.Store
	box      *secrets.Box
	settings pbx.Settings
	rowWrite func(t *testing.T, sealer *secrets.Sealer, tenant string, row pbx.UserRow) store.RowWrite
}

func newRowsFixture(t *testing.T) *rowsFixture {
	t.Helper()
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	box := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	settings := pbx.SystemDefaults()
	settings.Provisioning.Enabled, settings.Provisioning.Registrar, settings.Provisioning.DefaultPhoneModel = true, "sip.example", "yealink-t54w"

	rowWrite := func(t *testing.T, sealer *secrets.Sealer, tenant string, row pbx.UserRow) store.RowWrite {
		t.Helper()
		o, err := pbx.Build(tenant, settings, row)
		if err != nil {
			t.Fatal(err)
		}
		sip := o.Endpoint.SIPUser
		c := pbx.Credentials{SIPUser: sip, Extension: row.Extension, PortalKind: pbx.WelcomeInvite}
		c.SIPSecret, _ = sealer.Seal([]byte("sip-"+sip), pbx.SIPSecretBinding(sip))
		c.PIN, _ = sealer.Seal([]byte("pin-"+sip), pbx.PINBinding(sip))
		portal, _ := sealer.Seal([]byte("portal-"+sip), pbx.PortalBinding(sip))
		c.Portal = &portal
		return store.RowWrite{Line: row.Line, Objects: o, Credentials: c}
	}

	return &rowsFixture{ctx: ctx, st: st, box: box, settings: settings, rowWrite: rowWrite}
}

// testCredentialChunks: credentials in chunks of 100.
func testCredentialChunks(t *testing.T, f *rowsFixture) {
	ctx, st, box, rowWrite := f.ctx, f.st, f.box, f.rowWrite
	sealer, err := box.Sealer(ctx, "creds")
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.RowWrite
	var sipUsers []string
	for i := range 230 {
		rows = append(rows, rowWrite(t, sealer, "creds", pbx.UserRow{Line: i + 2, Extension: fmt.Sprint(1000 + i)}))
		sipUsers = append(sipUsers, fmt.Sprintf("%d-creds", 1000+i))
	}
	before := counter.Snapshot()
	out, stats, err := st.WriteRows(ctx, "creds", rows, store.WriteOptions{Job: "j1", RowsPerTransaction: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil || o.Already || o.Updated {
			t.Fatalf("line %d: %+v", o.Line, o)
		}
	}
	d := counter.Snapshot().Sub(before)
	if stats.Transactions != 23 || d.Calls["DynamoDB.TransactWriteItems"] != 23 {
		t.Errorf("%d transactions (%d counted) for 230 rows at 10 per transaction, want 23", stats.Transactions, d.Calls["DynamoDB.TransactWriteItems"])
	}
	// DynamoDB Local reports a flat 4 WCU per transaction; the model
	// bills 2 items per row (the EXT# aggregate of user, extension,
	// mailbox, endpoint and contact, and the SECRET#; no invite here)
	// at 2 WCU per item of ≤ 1 KB.
	if stats.ConsumedWCU != d.ConsumedWCU || stats.ConsumedWCU <= 0 {
		t.Errorf("consumed %.0f WCU, counter saw %.0f", stats.ConsumedWCU, d.ConsumedWCU)
	}
	if stats.ModelWCU != 230*2*2 {
		t.Errorf("modelled %.0f WCU, want %d", stats.ModelWCU, 230*2*2)
	}

	before = counter.Snapshot()
	creds, err := st.GetCredentials(ctx, "creds", append(sipUsers, sipUsers[0], "9999-creds"))
	if err != nil {
		t.Fatal(err)
	}
	if n := counter.Snapshot().Sub(before).Calls["DynamoDB.BatchGetItem"]; n != 3 {
		t.Errorf("%d BatchGetItem calls for 231 distinct keys, want 3", n)
	}
	if len(creds) != 230 {
		t.Fatalf("%d credentials, want 230 (the unknown endpoint absent)", len(creds))
	}
	c := creds["1042-creds"]
	for binding, v := range map[string]secrets.Sealed{pbx.SIPSecretBinding(c.SIPUser): c.SIPSecret, pbx.PINBinding(c.SIPUser): c.PIN, pbx.PortalBinding(c.SIPUser): *c.Portal} {
		got, err := box.Open(ctx, "creds", v, binding)
		if err != nil || len(got) == 0 {
			t.Errorf("open %s: %q, %v", binding, got, err)
		}
	}

	if err := st.DropPortalCredential(ctx, "creds", "1042-creds"); err != nil {
		t.Fatal(err)
	}
	if err := st.DropPortalCredential(ctx, "creds", "1042-creds"); err != nil {
		t.Fatalf("dropping twice: %v", err)
	}
	after, err := st.GetCredentials(ctx, "creds", []string{"1042-creds"})
	if err != nil {
		t.Fatal(err)
	}
	if a := after["1042-creds"]; a.Portal != nil || a.SIPSecret.IsZero() || a.PIN.IsZero() || a.PortalKind != pbx.WelcomeInvite {
		t.Errorf("after drop: %+v", a)
	}
	if err := st.DropPortalCredential(ctx, "creds", "9999-creds"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("drop for an unknown endpoint = %v, want ENOTFOUND", err)
	}
	if _, err := st.GetCredentials(ctx, "Bad-Tenant", sipUsers[:1]); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("GetCredentials for an invalid tenant = %v", err)
	}
}

// testInviteBatches: invites in batches of 25.
func testInviteBatches(t *testing.T, f *rowsFixture) {
	ctx, st := f.ctx, f.st
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var invites []store.Invite
	for i := range 30 {
		invites = append(invites, store.Invite{Hash: fmt.Sprintf("%064x", i+1), User: fmt.Sprintf("inv-%d", 100+i),
			SIPUser: fmt.Sprintf("%d-inv", 100+i), Job: "j1", Expires: expires})
	}
	before := counter.Snapshot()
	// A repeated invite is written once; writing all again is harmless.
	for range 2 {
		if err := st.PutInvites(ctx, "inv", append(invites, invites[0])); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.Snapshot().Sub(before).Calls["DynamoDB.BatchWriteItem"]; n != 4 {
		t.Errorf("%d BatchWriteItem calls for 2 × 30 invites, want 4", n)
	}
	got, err := stack.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(stack.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: store.InvitePK(invites[29].Hash)},
			store.AttrSK: &types.AttributeValueMemberS{Value: store.SKInvite},
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Type": "INVITE", "Tenant": "inv", "User": "inv-129", "SIPUser": "129-inv", "Job": "j1"}
	for k, v := range want {
		if s, _ := got.Item[k].(*types.AttributeValueMemberS); s == nil || s.Value != v {
			t.Errorf("invite %s = %v, want %s", k, got.Item[k], v)
		}
	}
	if n, _ := got.Item[store.AttrTTL].(*types.AttributeValueMemberN); n == nil || n.Value != fmt.Sprint(expires.Unix()) {
		t.Errorf("invite TTL = %v, want %d", got.Item[store.AttrTTL], expires.Unix())
	}
	bad := invites[0]
	bad.Hash = "short"
	if err := st.PutInvites(ctx, "inv", []store.Invite{bad}); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("invalid hash: err = %v", err)
	}
	if err := st.PutInvites(ctx, "Bad-Tenant", invites[:1]); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("invalid tenant: err = %v", err)
	}
}

// testRowsSharingAnItem: two rows on one item go to separate transactions.
func testRowsSharingAnItem(t *testing.T, f *rowsFixture) {
	ctx, st, box, rowWrite := f.ctx, f.st, f.box, f.rowWrite
	sealer, err := box.Sealer(ctx, "pack")
	if err != nil {
		t.Fatal(err)
	}
	rows := []store.RowWrite{
		rowWrite(t, sealer, "pack", pbx.UserRow{Line: 2, Extension: "100", MAC: "0015651b0001"}),
		rowWrite(t, sealer, "pack", pbx.UserRow{Line: 3, Extension: "101", MAC: "0015651b0001"}), // same MAC
		rowWrite(t, sealer, "pack", pbx.UserRow{Line: 4, Extension: "102"}),
	}
	out, stats, err := st.WriteRows(ctx, "pack", rows, store.WriteOptions{Job: "j1"})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || out[2].Err != nil || pbx.ErrorCode(out[1].Err) != pbx.CodeMACTaken {
		t.Errorf("outcomes = %+v", out)
	}
	if stats.Transactions != 2 {
		t.Errorf("%d transactions, want 2", stats.Transactions)
	}
	// A replay of the same request within DynamoDB's 10-minute token
	// window succeeds by its ClientRequestToken; the rows are done.
	out, _, err = st.WriteRows(ctx, "pack", rows, store.WriteOptions{Job: "j1"})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Err != nil || out[2].Err != nil || pbx.ErrorCode(out[1].Err) != pbx.CodeMACTaken {
		t.Errorf("replay outcomes = %+v", out)
	}
	// The same rows under another job: the extensions exist.
	out, _, err = st.WriteRows(ctx, "pack", rows[:1], store.WriteOptions{Job: "j2"})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].Already || pbx.ErrorCode(out[0].Err) != pbx.CodeExtensionExists {
		t.Errorf("another job's outcome = %+v", out)
	}
}

// testDIDRowItem: a DID row writes one DID item: its owner and route.
func testDIDRowItem(t *testing.T, f *rowsFixture) {
	ctx, st, box, rowWrite := f.ctx, f.st, f.box, f.rowWrite
	sealer, err := box.Sealer(ctx, "didrow")
	if err != nil {
		t.Fatal(err)
	}
	withDID := func(line int, ext, did string) store.RowWrite {
		w := rowWrite(t, sealer, "didrow", pbx.UserRow{Line: line, Extension: ext, DID: did})
		w.CreateDIDs = true
		return w
	}
	// The operator's free inventory holds them (issue #17).
	if _, _, err := st.AddDIDs(ctx, []string{"+14155553000", "+14155553001"}, ""); err != nil {
		t.Fatal(err)
	}
	rows := []store.RowWrite{withDID(2, "300", "+14155553000"), withDID(3, "301", "+14155553001")}
	out, stats, err := st.WriteRows(ctx, "didrow", rows, store.WriteOptions{Job: "j1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil || o.Already {
			t.Errorf("line %d: %+v", o.Line, o)
		}
	}
	// EXT# + SECRET# + the DID's owner item holding its route, 2 WCU each.
	if want := float64(len(rows) * 3 * 2); stats.ModelWCU != want {
		t.Errorf("modelled %.0f WCU, want %.0f", stats.ModelWCU, want)
	}
	got, err := stack.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(stack.Table),
		ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: store.DIDOwnerPK("+14155553000")},
			store.AttrSK: &types.AttributeValueMemberS{Value: store.SKOwner},
		}})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Type": "DID_OWNER", "Number": "+14155553000", "Tenant": "didrow", "Extension": "300"} {
		if s, _ := got.Item[k].(*types.AttributeValueMemberS); s == nil || s.Value != v {
			t.Errorf("DID item %s = %v, want %s", k, got.Item[k], v)
		}
	}
	// The same DID to another extension of the tenant fails that row only.
	out, _, err = st.WriteRows(ctx, "didrow", []store.RowWrite{withDID(4, "302", "+14155553000")}, store.WriteOptions{Job: "j2"})
	if err != nil {
		t.Fatal(err)
	}
	if pbx.ErrorCode(out[0].Err) != pbx.CodeDIDTaken {
		t.Errorf("DID routed elsewhere: %+v", out[0])
	}
	td, err := st.LookupTenantData(ctx, "didrow", nil, []string{"+14155553000", "+14155553999"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !td.OwnedDIDs["+14155553000"] || td.OwnedDIDs["+14155553999"] || len(td.TakenDIDs) != 0 {
		t.Errorf("lookup = %+v", td)
	}
	other, err := st.LookupTenantData(ctx, "didother", nil, []string{"+14155553000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if other.OwnedDIDs["+14155553000"] || !other.TakenDIDs["+14155553000"] {
		t.Errorf("another tenant's lookup = %+v", other)
	}
}

// testConcurrentTransactions: concurrent transactions.
func testConcurrentTransactions(t *testing.T, f *rowsFixture) {
	ctx, st, box, rowWrite := f.ctx, f.st, f.box, f.rowWrite
	sealer, err := box.Sealer(ctx, "conc")
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.RowWrite
	for i := range 40 {
		rows = append(rows, rowWrite(t, sealer, "conc", pbx.UserRow{Line: i + 2, Extension: fmt.Sprint(100 + i)}))
	}
	// A row repeating row 0's extension (another line) shares its items:
	// the call falls back to running in order, and row 0 wins.
	dup := rowWrite(t, sealer, "conc", pbx.UserRow{Line: 99, Extension: "100"})
	for _, tc := range []struct {
		name string
		rows []store.RowWrite
	}{{"disjoint", rows[:20]}, {"shared item", append(append([]store.RowWrite{}, rows[20:]...), rows[0], dup)}} {
		out, stats, err := st.WriteRows(ctx, "conc", tc.rows, store.WriteOptions{Job: "j1", RowsPerTransaction: 3, Concurrency: 4})
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			last := tc.name == "shared item" && i == len(out)-1
			if last && pbx.ErrorCode(o.Err) != pbx.CodeExtensionExists || !last && o.Err != nil {
				t.Errorf("%s: line %d: %+v", tc.name, o.Line, o)
			}
		}
		if stats.Transactions < (len(tc.rows)+2)/3 {
			t.Errorf("%s: %d transactions for %d rows", tc.name, stats.Transactions, len(tc.rows))
		}
	}
}
