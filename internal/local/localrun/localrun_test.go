package localrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// DynamoDB Local's idle HTTP connections close asynchronously.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

const uploads = "../../../events/uploads"

// report reads a job's exported report.csv into records by column name.
func report(t *testing.T, dir, job string) []map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "jobs", job, "report.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		rows = append(rows, m)
	}
	return rows
}

func runFile(t *testing.T, p *Pipeline, file string, meta map[string]string, out string) jobmodel.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key, err := p.UploadFile(ctx, file, meta)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := p.JobsFor(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) == 0 {
		t.Fatalf("no job for %s; delivery errors: %v", key, p.Stack.DeliveryErrors())
	}
	job := jobs[len(jobs)-1]
	if err := p.ExportJob(ctx, out, job.ID); err != nil {
		t.Fatal(err)
	}
	return job
}

// TestPipeline drives the sample uploads through the whole local pipeline,
// as `bulkprov run` does, and checks every output a person would open.
func TestPipeline(t *testing.T) {
	out := t.TempDir()
	p, err := Start(context.Background(), Config{Tenant: "acme", OutboxDir: filepath.Join(out, "outbox"), Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	// Each upload runs on what the ones before it left.
	uploadAcmeUsers(t, p, out)
	uploadExcelSemicolon(t, p, out)
	uploadWithErrors(t, p, out)
	uploadAcmeUsersAgain(t, p, out)
	uploadDryRun(t, p, out)
	emails, _ := p.Stack.Outbox()
	if len(emails) != 6+4+1 {
		t.Errorf("outbox has %d messages, want 11: a skipped row must not get a second email", len(emails))
	}
}

// uploadAcmeUsers: 6 valid rows, 3 DIDs (created with create-dids), 4 MACs;
// the S3 event delivered twice still makes one job and one email each.
func uploadAcmeUsers(t *testing.T, p *Pipeline, out string) {
	t.Helper()
	p.Stack.DuplicateDeliveries(1)
	job := runFile(t, p, filepath.Join(uploads, "acme-users.csv"), map[string]string{"create-dids": "true"}, out)
	p.Stack.DuplicateDeliveries(0)
	if job.Status != jobmodel.Done || job.Counts.Created != 6 || job.Counts.Provisioned != 4 || job.Counts.EmailsSent != 6 {
		t.Fatalf("acme-users job = %s %+v, want DONE with 6 created, 4 phones, 6 emails", job.Status, job.Counts)
	}
	rows := report(t, out, job.ID)
	if len(rows) != 6 {
		t.Fatalf("report has %d rows, want 6", len(rows))
	}
	for i, r := range rows {
		if r["status"] != events.StatusCreated || r["email_status"] != events.EmailSent || r["line"] != []string{"2", "3", "4", "5", "6", "7"}[i] {
			t.Errorf("report row %d = %v", i, r)
		}
	}
	if err := p.ExportProvisioning(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	for _, mac := range []string{"001565a1b2c3", "001565a1b2c4", "001565a1b2c5", "001565a1b2c6"} {
		body, err := os.ReadFile(filepath.Join(out, "provisioning", "acme", mac+".cfg"))
		if err != nil {
			t.Errorf("provisioning file for %s: %v", mac, err)
			continue
		}
		if !bytes.Contains(body, []byte("-acme")) || !bytes.HasPrefix(body, []byte("#!version:1.0.0.1")) {
			t.Errorf("%s.cfg is not a Yealink file for a SIP user of acme:\n%s", mac, body)
		}
	}
	emails, err := p.Stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(emails) != 6 {
		t.Fatalf("outbox has %d messages after a duplicate event, want 6", len(emails))
	}
}

// uploadExcelSemicolon: BOM, ';', CRLF, aliases, a quoted ';', an empty
// row, non-ASCII names, all kept in the records.
func uploadExcelSemicolon(t *testing.T, p *Pipeline, out string) {
	t.Helper()
	job := runFile(t, p, filepath.Join(uploads, "excel-semicolon.csv"), nil, out)
	if job.Status != jobmodel.Done || job.Counts.Created != 4 {
		t.Fatalf("excel-semicolon job = %s %+v, want DONE with 4 created", job.Status, job.Counts)
	}
	if err := p.ExportRecords(context.Background(), filepath.Join(out, "records.jsonl")); err != nil {
		t.Fatal(err)
	}
	records, err := os.ReadFile(filepath.Join(out, "records.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Jürgen", "Groß", "Marie; Claire", "Pål", "Østby", "Chloé"} {
		if !bytes.Contains(records, []byte(name)) {
			t.Errorf("records.jsonl lost the name %q", name)
		}
	}
	checkEveryUserIsWhole(t, records)
}

// uploadWithErrors: one valid row, eight errors, every line in the report.
func uploadWithErrors(t *testing.T, p *Pipeline, out string) {
	t.Helper()
	job := runFile(t, p, filepath.Join(uploads, "with-errors.csv"), nil, out)
	if job.Status != jobmodel.Partial || job.Counts.Created != 1 || job.Counts.Invalid != 8 {
		t.Fatalf("with-errors job = %s %+v, want PARTIAL with 1 created and 8 invalid", job.Status, job.Counts)
	}
	rows := report(t, out, job.ID)
	if len(rows) != 9 {
		t.Fatalf("with-errors report has %d rows, want 9", len(rows))
	}
	for _, r := range rows[1:] {
		if r["status"] != events.StatusInvalid || r["error_code"] == "" || r["message"] == "" {
			t.Errorf("invalid row reported as %v", r)
		}
	}
}

// uploadAcmeUsersAgain: the extensions exist now, and on-existing=skip
// skips every row.
func uploadAcmeUsersAgain(t *testing.T, p *Pipeline, out string) {
	t.Helper()
	job := runFile(t, p, filepath.Join(uploads, "acme-users.csv"), map[string]string{"create-dids": "true", "on-existing": "skip"}, out)
	if job.Status != jobmodel.Done || job.Counts.Skipped != 6 || job.Counts.Created != 0 {
		t.Fatalf("re-upload with on-existing=skip = %s %+v, want DONE with 6 skipped", job.Status, job.Counts)
	}
	for _, r := range report(t, out, job.ID) {
		if r["status"] != events.StatusSkipped {
			t.Errorf("skipped upload reports %v", r)
		}
	}
}

// uploadDryRun: a dry run ends in ingest, with the same final files as any
// job.
func uploadDryRun(t *testing.T, p *Pipeline, out string) {
	t.Helper()
	job := runFile(t, p, filepath.Join("testdata", "dry-run.csv"), map[string]string{"dry-run": "true"}, out)
	if job.Status != jobmodel.DryRun || job.Counts.Held != 2 || job.Counts.Invalid != 1 {
		t.Fatalf("dry run = %s %+v, want DRY_RUN with 2 held and 1 invalid", job.Status, job.Counts)
	}
	if rows := report(t, out, job.ID); len(rows) != 3 || rows[0]["status"] != events.StatusHeld || rows[1]["status"] != events.StatusInvalid {
		t.Fatalf("dry-run report = %v", rows)
	}
	if _, err := os.Stat(filepath.Join(out, "jobs", job.ID, "summary.json")); err != nil {
		t.Fatalf("dry run has no summary: %v", err)
	}
}

// checkEveryUserIsWhole: every USER item has its extension, mailbox,
// endpoint, contact and secret, so no row was half-created.
func checkEveryUserIsWhole(t *testing.T, records []byte) {
	t.Helper()
	keys := map[string]bool{}
	var users []string
	sc := bufio.NewScanner(bytes.NewReader(records))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var item map[string]any
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			t.Fatal(err)
		}
		pk, sk := item[store.AttrPK].(string), item[store.AttrSK].(string)
		keys[pk+"|"+sk] = true
		if strings.HasPrefix(sk, "EXT#") && pk == store.TenantPK("acme") {
			users = append(users, strings.TrimPrefix(sk, "EXT#"))
			for _, g := range []string{"User", "Ext", "Mailbox", "Endpoint", "Contact"} {
				if _, ok := item[g].(map[string]any); !ok {
					t.Errorf("%s has no %s group", sk, g)
				}
			}
		}
	}
	if len(users) == 0 {
		t.Fatal("no users in records.jsonl")
	}
	// The global items that belong to the tenant are read by key.
	for _, mac := range []string{"001565a1b2c3", "001565a1b2c4", "001565a1b2c5", "001565a1b2c6"} {
		if !keys[store.MACOwnerPK(mac)+"|"+store.SKOwner] {
			t.Errorf("records.jsonl has no owner item of MAC %s", mac)
		}
	}
	invites := 0
	for k := range keys {
		if strings.HasPrefix(k, "INVITE#") {
			invites++
		}
	}
	if invites == 0 {
		t.Error("records.jsonl has no invite item")
	}
	pk := store.TenantPK("acme")
	for _, ext := range users {
		for _, sk := range []string{store.ExtensionSK(ext), store.SecretSK(ext + "-acme")} {
			if !keys[pk+"|"+sk] {
				t.Errorf("user %s has no %s item", ext, sk)
			}
		}
	}
}
