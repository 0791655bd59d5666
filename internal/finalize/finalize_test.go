package finalize

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(testkit.ForTests(m, devstack.Config{}, func(s *devstack.Stack) { stack = s }))
}

var created = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

// seedJob writes a job whose 6 data lines ended up as: 2 created with
// email sent, 3 failed in records, 4 invalid at ingest, 5 created with a
// phone, 6 and 7 in a batch that died.
func seedJob(t *testing.T, tenant, job string, welcome pbx.WelcomeMode, phase2Ran bool) *Handler {
	t.Helper()
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	if _, _, err := st.CreateJob(ctx, jobmodel.Job{
		Tenant: tenant, ID: job, Status: jobmodel.Running, CreatedAt: created, StartedAt: created,
		Upload:  jobmodel.Upload{Bucket: stack.UploadsBucket, Key: "tenants/" + tenant + "/staff.csv"},
		Options: pbx.Options{OnExisting: pbx.OnExistingFail, Welcome: welcome},
	}); err != nil {
		t.Fatal(err)
	}
	rows := []pbx.UserRow{
		{Line: 2, Extension: "100", FirstName: "Ann", LastName: "Lee", Email: "ann@acme.example"},
		{Line: 3, Extension: "101", FirstName: "Bo", Email: "bo@acme.example", DID: "+14155550101"},
		{Line: 5, Extension: "103", FirstName: "Cy", Email: "cy@acme.example", MAC: "001565a1b2c3"},
		{Line: 6, Extension: "104", FirstName: "=HYPERLINK(\"x\")", Email: "dee@acme.example"},
		{Line: 7, Extension: "105", LastName: "Eve"},
	}
	var rowsBuf bytes.Buffer
	for _, r := range rows {
		b, _ := json.Marshal(r)
		rowsBuf.Write(append(b, '\n'))
	}
	put(t, jobfiles.RowsKey(tenant, job), rowsBuf.Bytes())
	rejected, _ := json.Marshal(events.RowResult{Line: 4, Extension: "3a2", Status: events.StatusInvalid,
		Code: pbx.CodeInvalidExtension, Message: "extension: \"3a2\" must be digits only"})
	put(t, jobfiles.RejectedKey(tenant, job), append(rejected, '\n'))
	batch := events.BatchResult{Tenant: tenant, Job: job, Batch: "b0000002", Rows: []events.RowResult{
		{Line: 2, Extension: "100", User: tenant + "-100", Email: "ann@acme.example", Status: events.StatusCreated},
		{Line: 3, Extension: "101", User: tenant + "-101", Status: events.StatusFailed, Code: pbx.CodeDIDTaken,
			Message: "DID +14155550101 is not available to this tenant"},
		{Line: 5, Extension: "103", User: tenant + "-103", Email: "cy@acme.example", Status: events.StatusCreated,
			ProvisioningFile: tenant + "/001565a1b2c3.cfg", Warnings: []string{"time zone Mars/Base not supported; UTC used"}},
	}}
	b, _ := json.Marshal(batch)
	put(t, jobfiles.ResultKey(tenant, job, "b0000002"), b)
	if phase2Ran {
		emails := events.BatchResult{Tenant: tenant, Job: job, Batch: "b0000002", Rows: []events.RowResult{
			{Line: 2, EmailStatus: events.EmailSent, EmailMessageID: "m-1"},
			{Line: 5, EmailStatus: events.EmailFailed, Code: pbx.CodeEmailRejected, Message: "address rejected"},
		}}
		b, _ = json.Marshal(emails)
		put(t, jobfiles.EmailResultKey(tenant, job, "b0000002"), b)
	}
	clock := created.Add(90 * time.Second)
	return &Handler{S3: stack.Clients.S3, Jobs: st, Now: func() time.Time { return clock }}
}

func put(t *testing.T, key string, body []byte) {
	t.Helper()
	if _, err := stack.Clients.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(stack.JobsBucket), Key: aws.String(key), Body: bytes.NewReader(body),
	}); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := stack.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String(stack.JobsBucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), got)
}

func TestReportAccountsForEveryLine(t *testing.T) {
	ctx := context.Background()
	h := seedJob(t, "fin", "jreport", pbx.WelcomeInvite, true)
	in := events.FinalizeInput{Tenant: "fin", Job: "jreport", JobsBucket: stack.JobsBucket,
		Phase1Error: &events.CaughtError{Error: "States.ExceedToleratedFailureThreshold"}}
	out, err := h.Handle(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := events.Counts{Rows: 6, Created: 2, Failed: 3, Invalid: 1, EmailsSent: 1, EmailsFailed: 1, Provisioned: 1}
	if out.Counts != want || out.Status != jobmodel.Partial {
		t.Fatalf("output = %+v, want counts %+v and PARTIAL", out, want)
	}
	report := get(t, jobfiles.ReportKey("fin", "jreport"))
	golden(t, "report.csv.golden", report)
	summary := get(t, jobfiles.SummaryKey("fin", "jreport"))
	golden(t, "summary.json.golden", summary)

	job, err := h.Jobs.GetJob(ctx, "fin", "jreport")
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != jobmodel.Partial || job.Counts != want || job.ReportKey != jobfiles.ReportKey("fin", "jreport") {
		t.Fatalf("job item = %+v", job)
	}

	// Finalize run twice: same report, same summary, same job.
	h.Now = func() time.Time { return created.Add(time.Hour) }
	if _, err := h.Handle(ctx, in); err != nil {
		t.Fatal(err)
	}
	if again := get(t, jobfiles.ReportKey("fin", "jreport")); !bytes.Equal(again, report) {
		t.Errorf("second finalize changed the report:\n%s", again)
	}
	if again := get(t, jobfiles.SummaryKey("fin", "jreport")); !bytes.Equal(again, summary) {
		t.Errorf("second finalize changed the summary:\n%s", again)
	}
}

func TestWelcomeNoneDefersEmails(t *testing.T) {
	h := seedJob(t, "fin", "jnone", pbx.WelcomeNone, false)
	out, err := h.Handle(context.Background(), events.FinalizeInput{Tenant: "fin", Job: "jnone", JobsBucket: stack.JobsBucket})
	if err != nil {
		t.Fatal(err)
	}
	if out.Counts.EmailsSent != 0 {
		t.Fatalf("counts = %+v", out.Counts)
	}
	report := string(get(t, jobfiles.ReportKey("fin", "jnone")))
	if got := strings.Count(report, ","+events.EmailDeferred+"\n"); got != 2 {
		t.Errorf("deferred rows = %d, want 2 (the created rows with an email):\n%s", got, report)
	}
}

// When phase 1 fails beyond its tolerance the workflow skips phase 2: the
// users that were created are reported with their emails deferred.
func TestPhase1FailureDefersEmails(t *testing.T) {
	h := seedJob(t, "fin", "jp1", pbx.WelcomeInvite, false)
	out, err := h.Handle(context.Background(), events.FinalizeInput{Tenant: "fin", Job: "jp1", JobsBucket: stack.JobsBucket,
		Phase1Error: &events.CaughtError{Error: "States.ExceedToleratedFailureThreshold"}})
	if err != nil {
		t.Fatal(err)
	}
	report := string(get(t, jobfiles.ReportKey("fin", "jp1")))
	if got := strings.Count(report, ","+events.EmailDeferred+"\n"); got != 2 || out.Counts.EmailsSent != 0 {
		t.Errorf("deferred rows = %d, counts %+v, want 2 deferred:\n%s", got, out.Counts, report)
	}
}

func TestIngestVerdictStands(t *testing.T) {
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	if _, _, err := st.CreateJob(ctx, jobmodel.Job{Tenant: "fin", ID: "jdry", Status: jobmodel.DryRun, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	held, _ := json.Marshal(events.RowResult{Line: 2, Extension: "100", Status: events.StatusHeld, Message: "dry run: nothing was created"})
	put(t, jobfiles.RejectedKey("fin", "jdry"), held)
	h := &Handler{S3: stack.Clients.S3, Jobs: st}
	out, err := h.Handle(ctx, events.FinalizeInput{Tenant: "fin", Job: "jdry", JobsBucket: stack.JobsBucket})
	if err != nil {
		t.Fatal(err)
	}
	if out.Status != jobmodel.DryRun || out.Counts.Held != 1 {
		t.Fatalf("output = %+v, want DRY_RUN with one held row", out)
	}
}

func TestUnknownJobAndBadTenant(t *testing.T) {
	h := &Handler{S3: stack.Clients.S3, Jobs: store.New(stack.Clients.DynamoDB, stack.Table)}
	if _, err := h.Handle(context.Background(), events.FinalizeInput{Tenant: "fin", Job: "jmissing", JobsBucket: stack.JobsBucket}); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("unknown job: error %v, want ENOTFOUND", err)
	}
	if _, err := h.Handle(context.Background(), events.FinalizeInput{Tenant: "../x", Job: "j", JobsBucket: stack.JobsBucket}); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("bad tenant: error %v, want EINVALID", err)
	}
}
