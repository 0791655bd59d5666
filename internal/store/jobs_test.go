package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestJobsAndLookup runs the job item and tenant-data lookup tests.
func TestJobsAndLookup(t *testing.T) {
	s := store.New(stack.Clients.DynamoDB, stack.Table)
	t.Run("jobs", func(t *testing.T) { testJobs(t, s) })
	t.Run("lookup", func(t *testing.T) { testLookup(t, s) })
	t.Run("finished job keeps its status", func(t *testing.T) { testFinishedJobKeepsStatus(t, s) })
}

// testFinishedJobKeepsStatus: finalize can finish a job before ingest
// records RUNNING; the late RUNNING must not overwrite DONE.
func testFinishedJobKeepsStatus(t *testing.T, s *store.Store) {
	ctx := context.Background()
	job := jobmodel.Job{Tenant: "race", ID: "jrace", Status: jobmodel.Validating, CreatedAt: time.Now().UTC()}
	if _, _, err := s.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	done := events.Counts{Rows: 1, Created: 1}
	if err := s.FinishJobAt(ctx, "race", "jrace", jobmodel.Done, done, "r", "s", time.Now()); err != nil {
		t.Fatal(err)
	}
	err := s.UpdateJobStatus(ctx, "race", "jrace", jobmodel.Running, events.Counts{Rows: 1}, "")
	if pbx.ErrorCode(err) != pbx.ECONFLICT {
		t.Fatalf("late RUNNING = %v, want ECONFLICT", err)
	}
	got, err := s.GetJob(ctx, "race", "jrace")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != jobmodel.Done || got.Counts != done {
		t.Fatalf("job = %s %+v, want DONE kept", got.Status, got.Counts)
	}
	if err := s.UpdateJobStatus(ctx, "race", "jmissing", jobmodel.Running, events.Counts{}, ""); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Fatalf("missing job = %v, want ENOTFOUND", err)
	}
}

func testJobs(t *testing.T, s *store.Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	job := jobmodel.Job{
		Tenant: "acme", ID: "j0000000000000000000a", Status: jobmodel.Validating,
		Upload:  jobmodel.Upload{Bucket: "up", Key: "tenants/acme/a.csv", ETag: "e1"},
		Options: pbx.Options{OnExisting: pbx.OnExistingSkip, Welcome: pbx.WelcomeNone, DryRun: true},
		RowsKey: "jobs/acme/j/rows.jsonl", ValidationKey: "jobs/acme/j/validation.json", CreatedAt: base,
	}
	created, _, err := s.CreateJob(ctx, job)
	if err != nil || !created {
		t.Fatalf("CreateJob = %v, %v", created, err)
	}
	dup := job
	dup.Status = jobmodel.Running
	created, existing, err := s.CreateJob(ctx, dup)
	if err != nil || created || existing.Status != jobmodel.Validating || existing.Upload != job.Upload || existing.Options != job.Options || !existing.CreatedAt.Equal(base) {
		t.Fatalf("duplicate CreateJob = %v, %+v, %v", created, existing, err)
	}

	counts := events.Counts{Rows: 9, Invalid: 8}
	if err := s.UpdateJobStatus(ctx, "acme", job.ID, jobmodel.Running, counts, ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetJob(ctx, "acme", job.ID)
	if err != nil || got.Status != jobmodel.Running || got.Counts != counts || got.StartedAt.IsZero() || got.RowsKey != job.RowsKey {
		t.Fatalf("after update: %+v, %v", got, err)
	}
	final := events.Counts{Rows: 9, Invalid: 8, Created: 1, EmailsSent: 1}
	if err := s.FinishJob(ctx, "acme", job.ID, jobmodel.Done, final, "r.csv", "s.json"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetJob(ctx, "acme", job.ID)
	if got.Status != jobmodel.Done || got.Counts != final || got.ReportKey != "r.csv" || got.SummaryKey != "s.json" || got.FinishedAt.IsZero() {
		t.Fatalf("after finish: %+v", got)
	}
	if err := s.UpdateJobStatus(ctx, "acme", "j-missing", jobmodel.Failed, counts, "x"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("update of a missing job = %v", err)
	}
	var e *pbx.Error
	if _, err := s.GetJob(ctx, "acme", "j-missing"); !errors.As(err, &e) || e.Code != pbx.ENOTFOUND {
		t.Errorf("GetJob missing = %v", err)
	}
	if _, _, err := s.CreateJob(ctx, jobmodel.Job{Tenant: "Bad", ID: "x"}); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("bad tenant = %v", err)
	}

	// Newest first, limited.
	for i, id := range []string{"jb", "jc", "jd"} {
		j := job
		j.ID, j.CreatedAt = id, base.Add(time.Duration(i+1)*time.Hour)
		if _, _, err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListJobs(ctx, "acme", 3)
	if err != nil || len(list) != 3 || list[0].ID != "jd" || list[1].ID != "jc" || list[2].ID != "jb" {
		t.Fatalf("ListJobs = %+v, %v", list, err)
	}
	if all, _ := s.ListJobs(ctx, "acme", 0); len(all) != 4 {
		t.Errorf("ListJobs(0) = %d jobs", len(all))
	}
	if none, err := s.ListJobs(ctx, "nobody", 10); err != nil || len(none) != 0 {
		t.Errorf("ListJobs(nobody) = %+v, %v", none, err)
	}
}

func testLookup(t *testing.T, s *store.Store) {
	ctx := context.Background()
	// 250 extensions: three BatchGetItem requests; every third exists.
	var exts []string
	for i := range 250 {
		ext := 1000 + i
		exts = append(exts, itoa(ext))
		if i%3 == 0 {
			put(t, s, store.TenantPK("lk"), store.ExtensionSK(itoa(ext)), nil)
		}
	}
	put(t, s, store.DIDOwnerPK("+15550001"), store.SKOwner, map[string]string{"Tenant": "lk", "Extension": "1000"})
	put(t, s, store.DIDOwnerPK("+15550002"), store.SKOwner, map[string]string{"Tenant": "lk"})
	put(t, s, store.DIDOwnerPK("+15550003"), store.SKOwner, map[string]string{"Tenant": "other"})
	put(t, s, store.MACOwnerPK("001565000001"), store.SKOwner, map[string]string{"Tenant": "lk", "Endpoint": "100-lk"})
	put(t, s, store.MACOwnerPK("001565000002"), store.SKOwner, map[string]string{"Tenant": "other", "Endpoint": "1-other"})
	put(t, s, store.TenantPK("other"), store.ExtensionSK("1000"), nil)

	dids := []string{"+15550001", "+15550002", "+15550003", "+15550004", "+15550001"} // a repeat is fine
	macs := []string{"001565000001", "001565000002", "001565000003"}
	td, err := s.LookupTenantData(ctx, "lk", exts, dids, macs)
	if err != nil {
		t.Fatal(err)
	}
	_, has1000 := td.Extensions["1000"]
	_, has1001 := td.Extensions["1001"]
	_, has1249 := td.Extensions["1249"]
	if len(td.Extensions) != 84 || !has1000 || has1001 || !has1249 {
		t.Errorf("extensions: %d found", len(td.Extensions))
	}
	if len(td.OwnedDIDs) != 2 || !td.OwnedDIDs["+15550001"] || !td.OwnedDIDs["+15550002"] || len(td.TakenDIDs) != 1 || !td.TakenDIDs["+15550003"] {
		t.Errorf("DIDs: owned %v taken %v", td.OwnedDIDs, td.TakenDIDs)
	}
	if len(td.MACEndpoints) != 1 || td.MACEndpoints["001565000001"] != "100-lk" || len(td.TakenMACs) != 1 || !td.TakenMACs["001565000002"] {
		t.Errorf("MACs: mine %v taken %v", td.MACEndpoints, td.TakenMACs)
	}
	empty, err := s.LookupTenantData(ctx, "lk", nil, nil, nil)
	if err != nil || len(empty.Extensions) != 0 {
		t.Errorf("empty lookup = %+v, %v", empty, err)
	}
}

// TestJobSettings: a job's batches read the job and the settings they work
// with in one call, the job's upload options laid over the tenant's.
func TestJobSettings(t *testing.T) {
	ctx := context.Background()
	s := store.New(stack.Clients.DynamoDB, stack.Table)
	if err := s.PutTenant(ctx, pbx.Tenant{Name: "jobset", DisplayName: "Job Settings Inc"}, []byte(`{"upload": {"welcome": "password"}}`)); err != nil {
		t.Fatal(err)
	}
	job := jobmodel.Job{Tenant: "jobset", ID: "j0000000000000000000b", Status: jobmodel.Running,
		Options: pbx.Options{OnExisting: pbx.OnExistingUpdate, Welcome: pbx.WelcomeNone}, CreatedAt: time.Now().UTC().Truncate(time.Second)}
	if _, _, err := s.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	tenantOnly, err := s.LoadSettings(ctx, "jobset")
	if err != nil || tenantOnly.Upload.Welcome != pbx.WelcomePassword {
		t.Fatalf("LoadSettings = %+v, %v; want the tenant's welcome=password", tenantOnly.Upload, err)
	}

	before := counter.Snapshot()
	got, settings, err := s.JobSettings(ctx, "jobset", job.ID)
	d := counter.Snapshot().Sub(before)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != job.ID || !got.CreatedAt.Equal(job.CreatedAt) || got.Options != job.Options {
		t.Errorf("job = %+v, want %+v", got, job)
	}
	if settings.Upload != job.Options || settings.TenantDisplayName != "Job Settings Inc" {
		t.Errorf("settings: upload %+v, display name %q; want the job's options and the tenant's name", settings.Upload, settings.TenantDisplayName)
	}
	if n, all := d.Calls["DynamoDB.BatchGetItem"], d.Total(); n != 1 || all != 1 {
		t.Errorf("JobSettings made %d BatchGetItem of %d calls (%v), want one call", n, all, d.Calls)
	}

	if _, _, err := s.JobSettings(ctx, "jobset", "jmissing"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("missing job = %v, want ENOTFOUND", err)
	}
	if _, _, err := s.JobSettings(ctx, "nosuchtenant", job.ID); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("missing tenant = %v, want ENOTFOUND", err)
	}
	if _, _, err := s.JobSettings(ctx, "Bad Name", job.ID); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("bad tenant name = %v, want EINVALID", err)
	}
}
