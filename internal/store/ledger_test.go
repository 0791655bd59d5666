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
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestEmailLedger runs the ledger's state machine against DynamoDB Local
// through the real client; one stack for all subtests (the JVM takes
// seconds to start). Each subtest uses its own tenant.
func TestEmailLedger(t *testing.T) {
	f := newLedgerFixture(t)
	t.Run("reserve, send, never again", func(t *testing.T) { testLedgerSendOnce(t, f) })
	t.Run("no SECRET item: not reserved, nothing created", func(t *testing.T) { testLedgerNoSecretItem(t, f) })
	t.Run("failed is reserved again, uncertain only by take-over", func(t *testing.T) { testLedgerRetryAndTakeOver(t, f) })
	t.Run("chunks and call count", func(t *testing.T) { testLedgerChunks(t, f) })
	t.Run("bad requests", func(t *testing.T) { testLedgerBadRequests(t, f) })
}

// ledgerFixture is what TestEmailLedger's subtests share.
type ledgerFixture struct {
	ctx         context.Context
	st          *store.Store
	at          time.Time
	reservation func(tenant, ext, job, attempt string) store.EmailReservation
	sent        func(tenant, ext, attempt, msg string) store.EmailOutcome
	ledger      func(t *testing.T, tenant, ext string) store.LedgerEntry
	putSecret   func(t *testing.T, tenant, ext string)
	items       func(t *testing.T, tenant string) int32
}

func newLedgerFixture(t *testing.T) *ledgerFixture {
	t.Helper()
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	// Users are named <tenant>-<ext>, their endpoints <ext>-<tenant>.
	reservation := func(tenant, ext, job, attempt string) store.EmailReservation {
		return store.EmailReservation{User: tenant + "-" + ext, SIPUser: ext + "-" + tenant, Purpose: "welcome", Job: job, Line: 2, Attempt: attempt, At: at}
	}
	sent := func(tenant, ext, attempt, msg string) store.EmailOutcome {
		return store.EmailOutcome{SIPUser: ext + "-" + tenant, Purpose: "welcome", Attempt: attempt, Sent: true, MessageID: msg, At: at}
	}
	ledger := func(t *testing.T, tenant, ext string) store.LedgerEntry {
		t.Helper()
		m, err := st.GetEmailLedger(ctx, tenant, "welcome", []string{ext + "-" + tenant})
		if err != nil {
			t.Fatal(err)
		}
		return m[ext+"-"+tenant]
	}
	putSecret := func(t *testing.T, tenant, ext string) {
		t.Helper()
		sipUser := ext + "-" + tenant
		_, err := stack.Clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(stack.Table),
			Item: map[string]types.AttributeValue{
				store.AttrPK: &types.AttributeValueMemberS{Value: store.TenantPK(tenant)},
				store.AttrSK: &types.AttributeValueMemberS{Value: store.SecretSK(sipUser)},
				"SIPUser":    &types.AttributeValueMemberS{Value: sipUser},
				"PortalKind": &types.AttributeValueMemberS{Value: "invite"},
				"Portal": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
					"k": &types.AttributeValueMemberB{Value: []byte{1}},
					"n": &types.AttributeValueMemberB{Value: []byte{2}},
					"d": &types.AttributeValueMemberB{Value: []byte{3}},
				}},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// items counts the tenant's items: the ledger adds none.
	items := func(t *testing.T, tenant string) int32 {
		t.Helper()
		out, err := stack.Clients.DynamoDB.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(stack.Table), ConsistentRead: aws.Bool(true), Select: types.SelectCount,
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.TenantPK(tenant)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Count
	}

	return &ledgerFixture{ctx: ctx, st: st, at: at, reservation: reservation, sent: sent, ledger: ledger, putSecret: putSecret, items: items}
}

// testLedgerSendOnce: reserve, send, never again.
func testLedgerSendOnce(t *testing.T, f *ledgerFixture) {
	ctx, st, at, reservation, sent, ledger, putSecret, items := f.ctx, f.st, f.at, f.reservation, f.sent, f.ledger, f.putSecret, f.items
	const tenant = "ledgera"
	putSecret(t, tenant, "100")
	res, err := st.ReserveEmails(ctx, tenant, []store.EmailReservation{reservation(tenant, "100", "j1", "a1")})
	if err != nil || !res[0].Reserved {
		t.Fatalf("first reservation = %+v, %v", res, err)
	}
	// The same attempt again (a retried request) still holds it.
	res, err = st.ReserveEmails(ctx, tenant, []store.EmailReservation{reservation(tenant, "100", "j1", "a1")})
	if err != nil || !res[0].Reserved {
		t.Fatalf("same attempt = %+v, %v", res, err)
	}
	// Another attempt (a replay after a crash) does not.
	res, err = st.ReserveEmails(ctx, tenant, []store.EmailReservation{reservation(tenant, "100", "j1", "a2")})
	if err != nil || res[0].Reserved || res[0].Existing.Status != store.LedgerReserved || res[0].Existing.Attempt != "a1" ||
		res[0].Existing.Job != "j1" || res[0].Existing.User != "ledgera-100" {
		t.Fatalf("other attempt = %+v, %v", res, err)
	}
	if err := st.FinishEmails(ctx, tenant, []store.EmailOutcome{sent(tenant, "100", "a1", "m-1")}); err != nil {
		t.Fatal(err)
	}
	e := ledger(t, tenant, "100")
	if e.Status != store.LedgerSent || e.MessageID != "m-1" || e.Job != "j1" || e.Line != 2 || !e.DoneAt.Equal(at) || !e.AttemptAt.Equal(at) ||
		e.User != "ledgera-100" || e.SIPUser != "100-ledgera" {
		t.Fatalf("entry after send = %+v", e)
	}
	creds, err := st.GetCredentials(ctx, tenant, []string{"100-ledgera"})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := creds["100-ledgera"]; !ok || c.Portal != nil || c.PortalKind != "invite" {
		t.Fatalf("portal credential not dropped with the SENT mark (or the item lost): %+v", c)
	}
	take := reservation(tenant, "100", "j2", "a4")
	take.TakeOver = true
	for _, r := range []store.EmailReservation{reservation(tenant, "100", "j2", "a3"), take} {
		res, err = st.ReserveEmails(ctx, tenant, []store.EmailReservation{r})
		if err != nil || res[0].Reserved || res[0].Existing.Status != store.LedgerSent || res[0].Existing.MessageID != "m-1" {
			t.Fatalf("reservation after SENT (take-over %v) = %+v, %v", r.TakeOver, res, err)
		}
	}
	if n := items(t, tenant); n != 1 {
		t.Errorf("tenant has %d items, want only its SECRET item", n)
	}
}

// testLedgerNoSecretItem: no SECRET item: not reserved, nothing created.
func testLedgerNoSecretItem(t *testing.T, f *ledgerFixture) {
	ctx, st, reservation, sent, items := f.ctx, f.st, f.reservation, f.sent, f.items
	const tenant = "ledgere"
	res, err := st.ReserveEmails(ctx, tenant, []store.EmailReservation{reservation(tenant, "1", "j1", "a1")})
	if err != nil || res[0].Reserved || res[0].Existing.Status != "" {
		t.Fatalf("reservation without credentials = %+v, %v", res, err)
	}
	if err := st.FinishEmails(ctx, tenant, []store.EmailOutcome{sent(tenant, "1", "a1", "m")}); err != nil {
		t.Fatal(err)
	}
	if n := items(t, tenant); n != 0 {
		t.Errorf("tenant has %d items, want none", n)
	}
}

// testLedgerRetryAndTakeOver: failed is reserved again, uncertain only by take-over.
func testLedgerRetryAndTakeOver(t *testing.T, f *ledgerFixture) {
	ctx, st, at, reservation, sent, ledger, putSecret := f.ctx, f.st, f.at, f.reservation, f.sent, f.ledger, f.putSecret
	const tenant = "ledgerb"
	putSecret(t, tenant, "1")
	putSecret(t, tenant, "2")
	res, err := st.ReserveEmails(ctx, tenant, []store.EmailReservation{reservation(tenant, "1", "j1", "a1"), reservation(tenant, "2", "j1", "a1")})
	if err != nil || !res[0].Reserved || !res[1].Reserved {
		t.Fatalf("reserve = %+v, %v", res, err)
	}
	err = st.FinishEmails(ctx, tenant, []store.EmailOutcome{{SIPUser: "1-ledgerb", Purpose: "welcome", Attempt: "a1", Code: pbx.CodeEmailRejected, Message: "rejected", At: at}})
	if err != nil {
		t.Fatal(err)
	}
	if e := ledger(t, tenant, "1"); e.Status != store.LedgerFailed || e.Code != pbx.CodeEmailRejected || e.Message != "rejected" {
		t.Fatalf("failed entry = %+v", e)
	}
	if c, _ := st.GetCredentials(ctx, tenant, []string{"1-ledgerb"}); c["1-ledgerb"].Portal == nil {
		t.Fatal("a FAILED email dropped the portal credential")
	}
	res, err = st.ReserveEmails(ctx, tenant, []store.EmailReservation{reservation(tenant, "1", "j2", "a2"), reservation(tenant, "2", "j2", "a2")})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Reserved {
		t.Errorf("FAILED entry not reserved again: %+v", res[0])
	}
	if e := ledger(t, tenant, "1"); e.Status != store.LedgerReserved || e.Code != "" || e.Message != "" || e.Job != "j2" {
		t.Errorf("a new reservation kept the old outcome: %+v", e)
	}
	if res[1].Reserved || res[1].Existing.Status != store.LedgerReserved {
		t.Errorf("uncertain entry reserved without take-over: %+v", res[1])
	}
	take := reservation(tenant, "2", "j2", "a3")
	take.TakeOver = true
	res, err = st.ReserveEmails(ctx, tenant, []store.EmailReservation{take})
	if err != nil || !res[0].Reserved {
		t.Fatalf("take-over = %+v, %v", res, err)
	}
	// The old attempt can no longer close it; the new one can.
	if err := st.FinishEmails(ctx, tenant, []store.EmailOutcome{sent(tenant, "2", "a1", "stale")}); err != nil {
		t.Fatal(err)
	}
	if e := ledger(t, tenant, "2"); e.Status != store.LedgerReserved || e.Attempt != "a3" {
		t.Fatalf("a stale attempt closed the entry: %+v", e)
	}
	if err := st.FinishEmails(ctx, tenant, []store.EmailOutcome{sent(tenant, "1", "a2", "m-1"), sent(tenant, "2", "a3", "m-2")}); err != nil {
		t.Fatal(err)
	}
	for ext, id := range map[string]string{"1": "m-1", "2": "m-2"} {
		if e := ledger(t, tenant, ext); e.Status != store.LedgerSent || e.MessageID != id || e.Code != "" {
			t.Errorf("%s = %+v", ext, e)
		}
	}
}

// testLedgerChunks: chunks and call count.
func testLedgerChunks(t *testing.T, f *ledgerFixture) {
	ctx, st, reservation, sent, putSecret := f.ctx, f.st, f.reservation, f.sent, f.putSecret
	const tenant = "ledgerc"
	var rs []store.EmailReservation
	var outcomes []store.EmailOutcome
	var sipUsers []string
	for i := range 130 {
		ext := fmt.Sprint(100 + i)
		putSecret(t, tenant, ext)
		rs = append(rs, reservation(tenant, ext, "j1", "a1"))
		outcomes = append(outcomes, sent(tenant, ext, "a1", "m"))
		sipUsers = append(sipUsers, ext+"-"+tenant)
	}
	// One entry exists already: its condition fails alone (no second
	// call: each statement is its own conditional write); what stood in
	// the way is read back with one BatchGetItem.
	rs[5].Attempt, outcomes[5].Attempt = "a0", "a0"
	if _, err := st.ReserveEmails(ctx, tenant, rs[5:6]); err != nil {
		t.Fatal(err)
	}
	rs[5].Attempt = "a1"
	before := counter.Snapshot()
	res, err := st.ReserveEmails(ctx, tenant, rs)
	if err != nil {
		t.Fatal(err)
	}
	d := counter.Snapshot().Sub(before)
	if calls := d.Calls["DynamoDB.BatchExecuteStatement"]; calls != 6 || d.Calls["DynamoDB.TransactWriteItems"] != 0 || d.Calls["DynamoDB.BatchGetItem"] > 1 {
		t.Errorf("BatchExecuteStatement calls = %d, want 6 (130 in 25s); calls %v", calls, d.Calls)
	}
	if res[5].Existing.Status != store.LedgerReserved || res[5].Existing.Attempt != "a0" {
		t.Errorf("the entry in the way = %+v", res[5].Existing)
	}
	for i, r := range res {
		if r.Reserved != (i != 5) {
			t.Fatalf("row %d reserved = %v", i, r.Reserved)
		}
	}
	before = counter.Snapshot()
	if err := st.FinishEmails(ctx, tenant, outcomes); err != nil {
		t.Fatal(err)
	}
	// 130 one-item outcomes in batches of 25; the a0 outcome closes the
	// entry reserved by a0 earlier.
	if calls := counter.Snapshot().Sub(before).Calls["DynamoDB.BatchExecuteStatement"]; calls != 6 {
		t.Errorf("FinishEmails BatchExecuteStatement calls = %d, want 6", calls)
	}
	m, err := st.GetEmailLedger(ctx, tenant, "welcome", sipUsers)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 130 {
		t.Fatalf("%d entries, want 130", len(m))
	}
	for u, e := range m {
		if e.Status != store.LedgerSent {
			t.Fatalf("%s = %+v", u, e)
		}
	}
}

// testLedgerBadRequests: bad requests.
func testLedgerBadRequests(t *testing.T, f *ledgerFixture) {
	ctx, st, reservation := f.ctx, f.st, f.reservation
	_, err := st.ReserveEmails(ctx, "ledgerd", []store.EmailReservation{reservation("ledgerd", "1", "j", "a"), reservation("ledgerd", "1", "j", "a")})
	if pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("duplicate user: err = %v", err)
	}
	noEndpoint := reservation("ledgerd", "1", "j", "a")
	noEndpoint.SIPUser = ""
	if _, err := st.ReserveEmails(ctx, "ledgerd", []store.EmailReservation{noEndpoint}); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("no endpoint: err = %v", err)
	}
	badPurpose := reservation("ledgerd", "1", "j", "a")
	badPurpose.Purpose = `welcome" = 1 OR "x`
	if _, err := st.ReserveEmails(ctx, "ledgerd", []store.EmailReservation{badPurpose}); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("purpose with a quote: err = %v", err)
	}
	if _, err := st.ReserveEmails(ctx, "Bad-Tenant", nil); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("bad tenant: err = %v", err)
	}
}
