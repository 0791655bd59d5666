package reliability

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	steps "github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// TestDuplicateEvents delivers every S3 event four times at once, as S3's
// at-least-once delivery may: one job, one execution, as the clean run.
func TestDuplicateEvents(t *testing.T) {
	clean := suite.cleanRun(t)
	env := suite.newTenant(t, "dup", nil)
	rows := env.users(stdRows)
	key := jobfiles.UploadPrefix(env.Name) + "users.csv"
	suite.p.Stack.DuplicateDeliveries(3)
	suite.put(t, key, csvOf(rows), stdMeta())
	suite.settle(t)
	suite.p.Stack.DuplicateDeliveries(0)
	compareWithClean(t, suite.observe(t, env, rows, key), clean, rows, false)
}

// holdEvents swaps the upload handler for one that keeps the events, and
// returns them (in delivery order) when called.
func holdEvents(t *testing.T) func() []events.S3Event {
	var mu sync.Mutex
	var held []events.S3Event
	suite.p.Stack.SetUploadHandler(func(_ context.Context, ev events.S3Event) error {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, ev)
		return nil
	})
	return func() []events.S3Event {
		suite.settle(t)
		suite.p.Stack.SetUploadHandler(suite.faults.wrapIngest(suite.p.Handlers.Ingest.Handle))
		mu.Lock()
		defer mu.Unlock()
		return held
	}
}

// TestOutOfOrderAndNewVersion writes two versions of one key, delivers the
// second version's event first, then the first version's event, then both
// again: each version is one job (the job id includes the version id), its
// rows are created once, nobody gets a second email.
func TestOutOfOrderAndNewVersion(t *testing.T) {
	env := suite.newTenant(t, "ooo", nil)
	all := env.users(20)
	v1, v2 := all[:10], all[10:]
	key := jobfiles.UploadPrefix(env.Name) + "users.csv"

	release := holdEvents(t)
	suite.put(t, key, csvOf(v1), stdMeta())
	suite.put(t, key, csvOf(v2), stdMeta())
	held := release()
	if len(held) != 2 {
		t.Fatalf("held %d events, want 2", len(held))
	}
	if held[0].Records[0].S3.Object.VersionID == held[1].Records[0].S3.Object.VersionID {
		t.Fatal("two writes of one key got the same version id")
	}
	deliver := suite.faults.wrapIngest(suite.p.Handlers.Ingest.Handle)
	ctx := context.Background()
	for _, ev := range []events.S3Event{held[1], held[0], held[1], held[0]} {
		if err := deliver(ctx, ev); err != nil {
			t.Fatalf("ingest: %v", err)
		}
		suite.settle(t)
	}
	o := suite.observe(t, env, all, key)
	if len(o.JobStatuses) != 2 {
		t.Fatalf("jobs = %v, want one per version", o.JobStatuses)
	}
	checkNoHalfRows(t, o, all)
	for r, n := range o.Emails {
		if n != 1 {
			t.Errorf("%s got %d emails", r, n)
		}
	}
	// The versions hold different rows: every row of both was created once.
	if len(o.Emails) != len(all) {
		t.Errorf("%d recipients got email, want %d (both versions' rows)", len(o.Emails), len(all))
	}
}

// TestFinalizeTwice runs finalize again on a finished job: same report and
// summary bytes, same status.
func TestFinalizeTwice(t *testing.T) {
	env := suite.newTenant(t, "fin", nil)
	rows := env.users(6)
	key := jobfiles.UploadPrefix(env.Name) + "users.csv"
	suite.put(t, key, csvOf(rows), stdMeta())
	suite.settle(t)
	jobs := suite.jobs(t, env.Name, key)
	if len(jobs) != 1 {
		t.Fatalf("jobs = %d", len(jobs))
	}
	job := jobs[0]
	report1 := suite.getObject(t, suite.p.Stack.JobsBucket, jobfiles.ReportKey(env.Name, job.ID))
	summary1 := suite.getObject(t, suite.p.Stack.JobsBucket, jobfiles.SummaryKey(env.Name, job.ID))
	for range 2 {
		out, err := suite.p.Handlers.Finalize.Handle(context.Background(), steps.FinalizeInput{
			Tenant: env.Name, Job: job.ID, JobsBucket: suite.p.Stack.JobsBucket,
		})
		if err != nil {
			t.Fatalf("finalize again: %v", err)
		}
		if out.Status != job.Status {
			t.Errorf("status %s, first run %s", out.Status, job.Status)
		}
	}
	if r := suite.getObject(t, suite.p.Stack.JobsBucket, jobfiles.ReportKey(env.Name, job.ID)); !bytes.Equal(r, report1) {
		t.Errorf("report changed:\n%s\nwas\n%s", r, report1)
	}
	if s := suite.getObject(t, suite.p.Stack.JobsBucket, jobfiles.SummaryKey(env.Name, job.ID)); !bytes.Equal(s, summary1) {
		t.Errorf("summary changed:\n%s\nwas\n%s", s, summary1)
	}
}

// TestRejectedRecipient: SES rejects one address. That row is created,
// its email failed with a reason; the others are as in the clean run; the
// job is PARTIAL.
func TestRejectedRecipient(t *testing.T) {
	env := suite.newTenant(t, "rej", nil)
	rows := env.users(6)
	suite.p.Stack.SES().RejectAddress(rows[2].Email)
	key := jobfiles.UploadPrefix(env.Name) + "users.csv"
	suite.put(t, key, csvOf(rows), stdMeta())
	suite.settle(t)
	o := suite.observe(t, env, rows, key)
	if len(o.JobStatuses) != 1 || o.JobStatuses[0] != jobmodel.Partial {
		t.Errorf("jobs = %v, want one PARTIAL", o.JobStatuses)
	}
	checkEveryLineOnce(t, o, len(rows))
	checkNoHalfRows(t, o, rows)
	for _, l := range o.Report {
		rejected := strings.HasPrefix(l, "4,")
		switch {
		case rejected && (!strings.Contains(l, ",created,") || !strings.HasSuffix(l, ",failed") || !strings.Contains(l, pbx.CodeEmailRejected)):
			t.Errorf("rejected row: %q, want created, email failed, %s", l, pbx.CodeEmailRejected)
		case !rejected && !strings.HasSuffix(l, ",sent"):
			t.Errorf("row %q: want email sent", l)
		}
	}
	if n := o.Emails[strings.ToLower(normalizer(env.Name, rows).Replace(rows[2].Email))]; n != 0 {
		t.Errorf("rejected address got %d emails", n)
	}
	if len(o.Emails) != len(rows)-1 {
		t.Errorf("%d recipients got email, want %d", len(o.Emails), len(rows)-1)
	}
}

// TestProvisioningStoreDown: every provisioning PUT fails (after the SDK's
// retries). The users exist, their rows say provisioning_failed, no file
// is left behind, the workflow still finishes.
func TestProvisioningStoreDown(t *testing.T) {
	env := suite.newTenant(t, "pdown", nil)
	rows := env.users(6)
	disarm := suite.faults.arm(nil, []httpFault{s3InternalError(env.Name, suite.p.Stack.ProvisioningBucket, 1000, false)})
	defer disarm()
	key := jobfiles.UploadPrefix(env.Name) + "users.csv"
	suite.put(t, key, csvOf(rows), stdMeta())
	suite.settle(t)
	o := suite.observe(t, env, rows, key)
	checkEveryLineOnce(t, o, len(rows))
	checkNoHalfRows(t, o, rows)
	if len(o.Files) != 0 {
		t.Errorf("files left behind: %v", o.Files)
	}
	for i, r := range rows {
		code := o.ReportCodes[i+2]
		want := ""
		if r.MAC != "" {
			want = pbx.CodeProvisioningFailed
		}
		if code != want {
			t.Errorf("line %d (mac %q): code %q, want %q", i+2, r.MAC, code, want)
		}
	}
	if len(o.JobStatuses) != 1 || o.JobStatuses[0] == jobmodel.Running {
		t.Errorf("jobs = %v, want one finished", o.JobStatuses)
	}
}
