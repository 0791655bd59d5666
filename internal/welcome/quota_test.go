package welcome

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

func quotaRows(tenant string, n int) []events.RowResult {
	var rows []events.RowResult
	for i := range n {
		ext := fmt.Sprint(100 + i)
		rows = append(rows, created(2+i, ext, tenant, "u"+ext+"@"+tenant+".example"))
	}
	return rows
}

// countStatus counts a run's email outcomes by status and checks every held
// row carries email_held_quota.
func countStatus(t *testing.T, f *fixture, out events.WelcomeOutput) map[string]int {
	t.Helper()
	got := map[string]int{}
	for line, r := range f.emailResults(t, out) {
		got[r.EmailStatus]++
		if r.EmailStatus == events.EmailHeld && (r.Code != pbx.CodeEmailHeldQuota || r.Message == "") {
			t.Errorf("line %d held as %q %q, want code %s and a message", line, r.Code, r.Message, pbx.CodeEmailHeldQuota)
		}
	}
	return got
}

// TestAccountDailyQuotaHoldsTheRest: the SES account (real SES v2 client,
// GetAccount's SendQuota) has 4 of its 24-hour quota left; a batch of 7
// sends 4 and holds 3 (not failed). A later send-welcome, once SES's window
// has room again, sends exactly the 3 held: nobody gets two emails.
func TestAccountDailyQuotaHoldsTheRest(t *testing.T) {
	const tenant = "wquota"
	f := newFixture(t, tenant, pbx.WelcomeInvite, quotaRows(tenant, 7))
	ses := stack.SES()
	ses.SetMax24HourSend(10)
	ses.SetSentLast24Hours(6)
	defer func() { ses.SetMax24HourSend(50000); ses.SetSentLast24Hours(0) }()

	in := f.input(f.job, f.key)
	in.Concurrency = 1
	out, err := f.handler().Handle(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 4 || out.Held != 3 || out.Failed != 0 {
		t.Fatalf("first run = %+v, want 4 sent, 3 held, none failed", out)
	}
	if got := countStatus(t, f, out); got[events.EmailSent] != 4 || got[events.EmailHeld] != 3 {
		t.Fatalf("email results = %v", got)
	}
	ledger, err := f.st.GetEmailLedger(context.Background(), tenant, Purpose, []string{"106-" + tenant})
	if err != nil {
		t.Fatal(err)
	}
	if e := ledger["106-"+tenant]; e.Status != store.LedgerFailed || e.Code != pbx.CodeEmailHeldQuota {
		t.Fatalf("held row's ledger = %+v, want released (FAILED, %s)", e, pbx.CodeEmailHeldQuota)
	}

	// Still no room: held again, nothing sent (the 4 report as sent by this job).
	out, err = f.handler().Send(context.Background(), in, Options{SendDeferred: true})
	if err != nil || out.Sent != 4 || out.Held != 3 || len(f.outbox(t)) != 4 {
		t.Fatalf("run without room = %+v, %v; want 3 held again", out, err)
	}
	// A day later the window has room: send-welcome sends the 3.
	ses.SetSentLast24Hours(0)
	out, err = f.handler().Send(context.Background(), in, Options{SendDeferred: true})
	if err != nil || out.Sent != 7 || out.Held != 0 || out.Failed != 0 {
		t.Fatalf("release = %+v, %v; want all 7 sent (4 before, 3 now)", out, err)
	}
	for addr, msgs := range f.outbox(t) {
		if len(msgs) != 1 {
			t.Errorf("%s got %d emails", addr, len(msgs))
		}
	}
	if n := len(f.outbox(t)); n != 7 {
		t.Errorf("%d recipients, want 7", n)
	}
}

// TestTenantDailyQuota: email.daily_quota 3 holds the 4th and 5th email of
// the day, across runs (counted in the table, not per run); the next UTC
// day sends them.
func TestTenantDailyQuota(t *testing.T) {
	const tenant = "wtquota"
	f := newFixture(t, tenant, pbx.WelcomeInvite, quotaRows(tenant, 5))
	overrides, err := pbx.CombineOverrides(pbx.LocalTenantOverrides(tenant), []byte(`{"email":{"daily_quota":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.PutTenant(context.Background(), pbx.Tenant{Name: tenant, DisplayName: "Q"}, overrides); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	h := f.handler()
	h.Now = func() time.Time { return day }
	in := f.input(f.job, f.key)
	out, err := h.Handle(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 3 || out.Held != 2 || out.Failed != 0 {
		t.Fatalf("first run = %+v, want 3 sent, 2 held", out)
	}
	if got := countStatus(t, f, out); got[events.EmailHeld] != 2 {
		t.Fatalf("email results = %v", got)
	}
	if n, err := f.st.DailyEmails(context.Background(), tenant, day); err != nil || n != 3 {
		t.Fatalf("quota counter = %d, %v; want 3", n, err)
	}
	out, err = h.Send(context.Background(), in, Options{SendDeferred: true})
	if err != nil || out.Held != 2 || out.Sent != 3 {
		t.Fatalf("same day again = %+v, %v; want the 2 still held", out, err)
	}
	day = day.Add(2 * time.Hour) // the next UTC day
	out, err = h.Send(context.Background(), in, Options{SendDeferred: true})
	if err != nil || out.Held != 0 || out.Sent != 5 {
		t.Fatalf("next day = %+v, %v; want all 5 sent", out, err)
	}
	if n, _ := f.st.DailyEmails(context.Background(), tenant, day); n != 2 {
		t.Errorf("next day's counter = %d, want 2", n)
	}
	if n := len(f.outbox(t)); n != 5 {
		t.Errorf("%d recipients, want 5", n)
	}
}

// TestSESDailyQuotaAnswerIsHeld: SES's own refusal once the 24-hour quota is
// used up (by another sender, after GetAccount) holds the email, not fails it.
func TestSESDailyQuotaAnswerIsHeld(t *testing.T) {
	ses := stack.SES()
	ses.SetMax24HourSend(1)
	ses.SetSentLast24Hours(1)
	defer func() { ses.SetMax24HourSend(50000); ses.SetSentLast24Hours(0) }()
	_, err := stack.Clients.SES.SendEmail(context.Background(), sendInput("a@wquota.example", "", "b@wquota.example",
		[]byte("From: a@wquota.example\r\nTo: b@wquota.example\r\nSubject: x\r\n\r\nx\r\n"), nil), noSDKRetries)
	if err == nil {
		t.Fatal("SES sent past its 24-hour quota")
	}
	if se := classifySendError(err); se.kind != sendHeld || se.code != pbx.CodeEmailHeldQuota {
		t.Fatalf("classified %v as %+v, want held", err, se)
	}
	acct, err := stack.Clients.SES.GetAccount(context.Background(), &sesv2.GetAccountInput{})
	if err != nil || acct.SendQuota.Max24HourSend != 1 || acct.SendQuota.SentLast24Hours != 1 {
		t.Fatalf("GetAccount = %+v, %v", acct.SendQuota, err)
	}
}
