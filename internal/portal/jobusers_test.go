package portal

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/welcome"
	"github.com/bulkprov/bulkprov/internal/welcomejob"
)

// emailHandler is the API with the email sender wired as in `bulkprov
// portal`: welcome.Handler over the local SES, KMS and table.
func emailHandler(t *testing.T) *Handler {
	t.Helper()
	return emailHandlerWithMargin(t, 0)
}

// emailHandlerWithMargin: margin is welcomejob.Sender.Margin (the time no
// batch is started without).
func emailHandlerWithMargin(t *testing.T, margin time.Duration) *Handler {
	t.Helper()
	st := testStore()
	fin := &finalize.Handler{S3: stack.Clients.S3, Jobs: st}
	wel := &welcome.Handler{
		S3: stack.Clients.S3, Store: st, Secrets: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID), SES: stack.Clients.SES,
		Settings: welcome.StoreJobSettings(st),
	}
	return New(Config{UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket},
		Deps{Jobs: st, Settings: st, Presigner: s3.NewPresignClient(stack.Clients.S3), Objects: stack.Clients.S3,
			Tenants: st, Rows: fin,
			Emails: &welcomejob.Sender{Welcome: wel, Finalize: fin, Jobs: st, S3: stack.Clients.S3, JobsBucket: stack.JobsBucket, Margin: margin}})
}

// doneJob seeds a finished welcome=none job as the workflow leaves it:
// job item, rows.jsonl, one batch's results, the users' sealed credentials,
// then runs finalize (report, summary, counts). Rows: 100 and 101 created
// with an address, 102 created without, 103 failed, line 6 invalid.
func doneJob(t *testing.T, tenant, id string) jobmodel.Job {
	t.Helper()
	ctx := context.Background()
	st := testStore()
	j := jobmodel.Job{
		Tenant: tenant, ID: id, Status: jobmodel.Running,
		Upload:    jobmodel.Upload{Bucket: stack.UploadsBucket, Key: jobfiles.UploadPrefix(tenant) + id + ".csv"},
		Options:   pbx.Options{OnExisting: pbx.OnExistingFail, Welcome: pbx.WelcomeNone},
		RowsKey:   jobfiles.RowsKey(tenant, id),
		CreatedAt: time.Now().UTC(),
	}
	if created, _, err := st.CreateJob(ctx, j); err != nil || !created {
		t.Fatalf("create job: %v %v", created, err)
	}
	user := func(line int, ext, email string) pbx.UserRow {
		return pbx.UserRow{Line: line, Extension: ext, FirstName: "User", LastName: ext, Email: email}
	}
	rows := []pbx.UserRow{user(2, "100", "u100@"+tenant+".example"), user(3, "101", "u101@"+tenant+".example"), user(4, "102", ""), user(5, "103", "u103@"+tenant+".example")}
	putJobRows(t, tenant, id, rows)

	sealer, err := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID).Sealer(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	results := doneResults(tenant, rows)
	for _, rr := range results {
		if rr.Status == events.StatusCreated {
			putCredentials(t, sealer, tenant, rr)
		}
	}
	// Two batches, as the workflow writes them with a batch size of 2.
	for _, part := range [][]events.RowResult{results[:2], results[2:]} {
		batch := jobfiles.BatchID(part[0].Line)
		key := jobfiles.ResultKey(tenant, id, batch)
		body, _ := json.Marshal(events.BatchResult{Tenant: tenant, Job: id, Batch: batch, JobsBucket: stack.JobsBucket, ResultKey: key, Rows: part})
		putObject(t, stack.JobsBucket, key, string(body))
	}
	fin := &finalize.Handler{S3: stack.Clients.S3, Jobs: st}
	if _, err := fin.Handle(ctx, events.FinalizeInput{Tenant: tenant, Job: id, JobsBucket: stack.JobsBucket}); err != nil {
		t.Fatal(err)
	}
	j, err = st.GetJob(ctx, tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// putJobRows writes the job's rows.jsonl and its rejected rows (line 6,
// an invalid extension), as ingest does.
func putJobRows(t *testing.T, tenant, id string, rows []pbx.UserRow) {
	t.Helper()
	var jsonl bytes.Buffer
	for _, r := range rows {
		b, _ := json.Marshal(r)
		jsonl.Write(append(b, '\n'))
	}
	putObject(t, stack.JobsBucket, jobfiles.RowsKey(tenant, id), jsonl.String())
	rejected, _ := json.Marshal(events.RowResult{Line: 6, Extension: "10x", Status: events.StatusInvalid, Code: pbx.EINVALID, Message: "extension: not digits"})
	putObject(t, stack.JobsBucket, jobfiles.RejectedKey(tenant, id), string(rejected)+"\n")
}

// doneResults is each row's outcome: created (100 with a provisioned
// phone), except 103, which failed.
func doneResults(tenant string, rows []pbx.UserRow) []events.RowResult {
	var results []events.RowResult
	for _, r := range rows {
		rr := events.RowResult{Line: r.Line, Extension: r.Extension, Name: "User " + r.Extension, User: pbx.PortalUserName(tenant, r.Extension),
			SIPUser: pbx.SIPUserName(r.Extension, tenant), Email: r.Email, Status: events.StatusCreated}
		if r.Extension == "103" {
			rr = events.RowResult{Line: r.Line, Extension: r.Extension, User: rr.User, Status: events.StatusFailed, Code: pbx.ECONFLICT, Message: "the MAC is taken"}
		}
		if r.Extension == "100" {
			rr.MAC, rr.PhoneModel, rr.ProvisioningFile = "0004f2aabb01", "polycom-vvx450", tenant+"/0004f2aabb01.cfg"
		}
		results = append(results, rr)
	}
	return results
}

// putCredentials stores a created user's sealed credentials as
// create-records does: SIP secret, PIN and a portal invite token.
func putCredentials(t *testing.T, sealer *secrets.Sealer, tenant string, rr events.RowResult) {
	t.Helper()
	sip := rr.SIPUser
	seal := func(v, binding string) secrets.Sealed {
		s, err := sealer.Seal([]byte(v), binding)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	portal := seal("token-"+sip, pbx.PortalBinding(sip))
	if err := store.New(stack.Clients.DynamoDB, stack.Table).PutCredentials(context.Background(), tenant, pbx.Credentials{
		SIPUser: sip, Extension: rr.Extension, PortalKind: pbx.WelcomeInvite, Portal: &portal,
		InviteExpires: time.Now().Add(72 * time.Hour).Unix(),
		SIPSecret:     seal("sip-"+sip, pbx.SIPSecretBinding(sip)), PIN: seal("480213", pbx.PINBinding(sip)),
	}); err != nil {
		t.Fatal(err)
	}
}

func getUsers(t *testing.T, h *Handler, tenant, job string, query map[string]string) JobUsers {
	t.Helper()
	r := call(t, h, apiCall{tenant: tenant, method: "GET", path: "/jobs/" + job + "/users", query: query})
	if r.status != 200 {
		t.Fatalf("GET users = %d %s", r.status, r.body)
	}
	var u JobUsers
	r.json(t, &u)
	return u
}

func outboxTo(t *testing.T, addr string) int {
	t.Helper()
	paths, err := stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "To: ") && strings.Contains(string(b), "<"+addr+">") || strings.Contains(string(b), "To: "+addr) {
			n++
		}
	}
	return n
}

func TestJobUsersPagedAndFiltered(t *testing.T) {
	h := emailHandler(t)
	j := doneJob(t, tenantA, "jusers1")
	u := getUsers(t, h, tenantA, j.ID, nil)
	if u.Total != 5 || len(u.Users) != 5 || u.HeldEmails != 2 {
		t.Fatalf("users = %+v", u)
	}
	first := u.Users[0]
	if first.Extension != "100" || first.Status != events.StatusCreated || first.EmailStatus != emailHeld || !first.CanSend ||
		first.ProvisioningFile == "" || first.PhoneModel != "polycom-vvx450" {
		t.Errorf("100 = %+v", first)
	}
	if u.Users[2].EmailStatus != "" || u.Users[2].CanSend || u.Users[3].Status != events.StatusFailed || u.Users[4].Status != events.StatusInvalid {
		t.Errorf("rows = %+v", u.Users)
	}
	if u.ByStatus["created"] != 3 || u.ByStatus["failed"] != 1 || u.ByStatus["invalid"] != 1 || u.ByEmail["held"] != 2 {
		t.Errorf("counts %v %v", u.ByStatus, u.ByEmail)
	}
	// Pages.
	p := getUsers(t, h, tenantA, j.ID, map[string]string{"limit": "2", "offset": "2"})
	if p.Total != 5 || len(p.Users) != 2 || p.Users[0].Extension != "102" {
		t.Errorf("page 2 = %+v", p)
	}
	// Filters.
	f := getUsers(t, h, tenantA, j.ID, map[string]string{"status": "failed,invalid"})
	if f.Total != 2 || f.Users[0].Extension != "103" {
		t.Errorf("failed,invalid = %+v", f)
	}
	f = getUsers(t, h, tenantA, j.ID, map[string]string{"email": "held"})
	if f.Total != 2 {
		t.Errorf("email=held = %+v", f)
	}
	f = getUsers(t, h, tenantA, j.ID, map[string]string{"email": "sent"})
	if f.Total != 0 || f.Users == nil {
		t.Errorf("email=sent = %+v", f)
	}
	for q, field := range map[string]string{"status=nope": "status", "limit=0": "limit", "limit=501": "limit", "offset=-1": "offset", "email=bogus": "email"} {
		k, v, _ := strings.Cut(q, "=")
		r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs/" + j.ID + "/users", query: map[string]string{k: v}})
		var e errorBody
		r.json(t, &e)
		if r.status != 400 || e.Error.Field != field {
			t.Errorf("%s = %d %s", q, r.status, r.body)
		}
	}
}

func TestReleaseAndResendWelcomeEmails(t *testing.T) {
	h := emailHandler(t)
	j := doneJob(t, "relacme", "jrelease1")
	if err := testStore().PutTenant(context.Background(), pbx.Tenant{Name: "relacme", DisplayName: "Rel"}, pbx.LocalTenantOverrides("relacme")); err != nil {
		t.Fatal(err)
	}
	stack.SES().RejectAddressOnce("u101@relacme.example")
	post := func(path, body string) apiResult {
		c := apiCall{tenant: "relacme", method: "POST", path: path}
		if body != "" {
			c.contentType, c.body = "application/json", body
		}
		return call(t, h, c)
	}
	// Release: 100 sent, 101 rejected by SES.
	r := post("/jobs/"+j.ID+"/welcome", "")
	var res WelcomeResult
	r.json(t, &res)
	if r.status != 200 || res.Sent != 1 || res.Failed != 1 || res.Next != "" {
		t.Fatalf("release = %d %s", r.status, r.body)
	}
	u := getUsers(t, h, "relacme", j.ID, nil)
	if u.Users[0].EmailStatus != events.EmailSent || u.Users[1].EmailStatus != events.EmailFailed || !u.Users[1].CanSend || u.HeldEmails != 1 {
		t.Fatalf("after release: %+v", u.Users[:2])
	}
	// The report and counts were refreshed.
	job, err := testStore().GetJob(context.Background(), "relacme", j.ID)
	if err != nil || job.Counts.EmailsSent != 1 || job.Counts.EmailsFailed != 1 || job.Status != jobmodel.Partial {
		t.Fatalf("job after release: %+v %v", job, err)
	}
	// Releasing again sends 101's (the rejection was once) and never 100's
	// twice: the ledger reports it sent by this job.
	r = post("/jobs/"+j.ID+"/welcome", "{}")
	r.json(t, &res)
	if r.status != 200 || res.Sent != 2 || res.Failed != 0 || outboxTo(t, "u100@relacme.example") != 1 {
		t.Fatalf("second release = %d %s, outbox %d", r.status, r.body, outboxTo(t, "u100@relacme.example"))
	}
	if outboxTo(t, "u101@relacme.example") != 1 {
		t.Fatalf("101 after the second release: %d emails", outboxTo(t, "u101@relacme.example"))
	}
	// Resending a sent email is refused: its credentials are gone.
	r = post("/jobs/"+j.ID+"/users/100/welcome", "")
	if r.status != http.StatusConflict || r.errorCode(t) != pbx.ECONFLICT {
		t.Errorf("resend sent = %d %s", r.status, r.body)
	}
	for path, want := range map[string]int{
		"/jobs/" + j.ID + "/users/102/welcome":   http.StatusConflict, // no address
		"/jobs/" + j.ID + "/users/103/welcome":   http.StatusConflict, // failed row
		"/jobs/" + j.ID + "/users/999/welcome":   http.StatusNotFound,
		"/jobs/" + j.ID + "/users/1a/welcome":    http.StatusBadRequest,
		"/jobs/" + j.ID + "/users/..%2F/welcome": http.StatusBadRequest,
	} {
		if r := post(path, ""); r.status != want {
			t.Errorf("POST %s = %d, want %d: %s", path, r.status, want, r.body)
		}
	}
	job, _ = testStore().GetJob(context.Background(), "relacme", j.ID)
	if job.Status != jobmodel.Partial || job.Counts.EmailsSent != 2 || job.Counts.EmailsFailed != 0 {
		t.Errorf("job after all sent (PARTIAL for its failed and invalid rows): %+v", job)
	}
}

func TestResendOneUserAndUncertainNeedsConfirmation(t *testing.T) {
	ctx := context.Background()
	h := emailHandler(t)
	const tenant = "uncacme"
	if err := testStore().PutTenant(ctx, pbx.Tenant{Name: tenant, DisplayName: "Unc"}, pbx.LocalTenantOverrides(tenant)); err != nil {
		t.Fatal(err)
	}
	j := doneJob(t, tenant, "juncertain1")
	post := func(path, body string) apiResult {
		c := apiCall{tenant: tenant, method: "POST", path: path}
		if body != "" {
			c.contentType, c.body = "application/json", body
		}
		return call(t, h, c)
	}
	// Send 101's alone: 100 stays held.
	r := post("/jobs/"+j.ID+"/users/101/welcome", "")
	var res WelcomeResult
	r.json(t, &res)
	if r.status != 200 || res.Sent != 1 || res.User == nil || res.User.EmailStatus != events.EmailSent {
		t.Fatalf("send one = %d %s", r.status, r.body)
	}
	u := getUsers(t, h, tenant, j.ID, nil)
	if u.Users[0].EmailStatus != emailHeld || u.Users[1].EmailStatus != events.EmailSent {
		t.Fatalf("after one: %+v", u.Users[:2])
	}
	// 100's email: a run died after reserving it (uncertain).
	rs, err := testStore().ReserveEmails(ctx, tenant, []store.EmailReservation{{User: tenant + "-100", SIPUser: "100-" + tenant,
		Purpose: welcome.Purpose, Job: j.ID, Line: 2, Attempt: "crashed", At: time.Now()}})
	if err != nil || !rs[0].Reserved {
		t.Fatal(rs, err)
	}
	r = post("/jobs/"+j.ID+"/welcome", "")
	r.json(t, &res)
	if r.status != 200 || res.Uncertain != 1 || outboxTo(t, "u100@"+tenant+".example") != 0 || outboxTo(t, "u101@"+tenant+".example") != 1 {
		t.Fatalf("release with an uncertain one = %d %s", r.status, r.body)
	}
	u = getUsers(t, h, tenant, j.ID, nil)
	if u.Users[0].EmailStatus != emailUncertain || !u.Users[0].CanSend {
		t.Fatalf("100 = %+v", u.Users[0])
	}
	// Without confirmation: refused, nothing sent.
	r = post("/jobs/"+j.ID+"/users/100/welcome", "")
	if r.status != http.StatusConflict || r.errorCode(t) != codeConfirm || outboxTo(t, "u100@"+tenant+".example") != 0 {
		t.Fatalf("unconfirmed = %d %s", r.status, r.body)
	}
	// Confirmed: sent once.
	r = post("/jobs/"+j.ID+"/users/100/welcome", `{"confirm_uncertain":true}`)
	r.json(t, &res)
	if r.status != 200 || res.Sent != 1 || outboxTo(t, "u100@"+tenant+".example") != 1 {
		t.Fatalf("confirmed = %d %s", r.status, r.body)
	}
}

func TestJobUsersAndEmailsAreTenantScoped(t *testing.T) {
	// beta probes acme's job: every endpoint answers as for a missing job.
	h := emailHandler(t)
	j := doneJob(t, tenantA, "jisolation1")
	before := outboxTo(t, "u100@acme.example")
	for _, c := range []struct{ method, path string }{
		{"GET", "/jobs/" + j.ID + "/users"},
		{"POST", "/jobs/" + j.ID + "/welcome"},
		{"POST", "/jobs/" + j.ID + "/users/100/welcome"},
	} {
		other := call(t, h, apiCall{tenant: tenantBeta, method: c.method, path: c.path})
		missing := call(t, h, apiCall{tenant: tenantBeta, method: c.method, path: strings.Replace(c.path, j.ID, "jnosuchjob1", 1)})
		if other.status != 404 || other.status != missing.status || other.body != missing.body {
			t.Errorf("%s %s as beta = %d %s; missing = %d %s", c.method, c.path, other.status, other.body, missing.status, missing.body)
		}
	}
	if outboxTo(t, "u100@acme.example") != before {
		t.Errorf("beta's requests sent acme's email")
	}
	// acme's rows are untouched: still held.
	if u := getUsers(t, h, tenantA, j.ID, nil); u.Users[0].EmailStatus != emailHeld {
		t.Errorf("acme's 100 = %+v", u.Users[0])
	}
}

func TestEmailsOnlyForFinishedJobs(t *testing.T) {
	h := emailHandler(t)
	running := jobFixture(t, tenantA, "run", nil)
	rejected := jobFixture(t, tenantA, "rej", func(j *jobmodel.Job) { j.Status = jobmodel.Rejected })
	for _, c := range []struct {
		job  string
		code string
	}{{running.ID, codeNotReady}, {rejected.ID, codeNoEmail}} {
		r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/jobs/" + c.job + "/welcome"})
		if r.status != http.StatusConflict || r.errorCode(t) != c.code {
			t.Errorf("POST welcome of %s = %d %s", c.job, r.status, r.body)
		}
	}
	// A running job's rows without results are pending, not failed.
	putObject(t, stack.JobsBucket, jobfiles.RowsKey(tenantA, running.ID), `{"line":2,"extension":"500","first_name":"A","last_name":"B"}`+"\n")
	u := getUsers(t, h, tenantA, running.ID, nil)
	if len(u.Users) != 1 || u.Users[0].Status != statusPending || u.Users[0].Message != "" {
		t.Errorf("running job's users = %+v", u.Users)
	}
}

func TestReleaseGoesOnWhereTheTimeRanOut(t *testing.T) {
	// Each request has 30 s and no batch starts with less than an hour
	// left: one batch per request, as a slow account in Lambda's 29 s.
	h := emailHandlerWithMargin(t, time.Hour)
	const tenant = "relslow"
	if err := testStore().PutTenant(context.Background(), pbx.Tenant{Name: tenant, DisplayName: "Slow"}, pbx.LocalTenantOverrides(tenant)); err != nil {
		t.Fatal(err)
	}
	j := doneJob(t, tenant, "jslow1")
	post := func(body string) WelcomeResult {
		r := call(t, h, apiCall{tenant: tenant, method: "POST", path: "/jobs/" + j.ID + "/welcome", contentType: "application/json", body: body})
		if r.status != 200 {
			t.Fatalf("release = %d %s", r.status, r.body)
		}
		var res WelcomeResult
		r.json(t, &res)
		return res
	}
	first := post("{}")
	if first.Next != jobfiles.ResultKey(tenant, j.ID, jobfiles.BatchID(2)) || first.Sent != 2 {
		t.Fatalf("first request = %+v", first)
	}
	job, _ := testStore().GetJob(context.Background(), tenant, j.ID)
	if job.Counts.EmailsSent != 0 {
		t.Errorf("the report was refreshed before the release ended: %+v", job.Counts)
	}
	second := post(`{"after":"` + first.Next + `"}`)
	if second.Next != "" || second.Sent != 0 {
		t.Fatalf("second request = %+v", second)
	}
	job, _ = testStore().GetJob(context.Background(), tenant, j.ID)
	if job.Counts.EmailsSent != 2 || job.Counts.EmailsFailed != 0 {
		t.Errorf("job after the release: %s %+v", job.Status, job.Counts)
	}
	if outboxTo(t, "u100@"+tenant+".example") != 1 || outboxTo(t, "u101@"+tenant+".example") != 1 {
		t.Errorf("each email once")
	}
	// An after outside this job is refused.
	r := call(t, h, apiCall{tenant: tenant, method: "POST", path: "/jobs/" + j.ID + "/welcome", contentType: "application/json",
		body: `{"after":"jobs/acme/x/results/b0000002.json"}`})
	if r.status != 400 {
		t.Errorf("foreign after = %d %s", r.status, r.body)
	}
}
