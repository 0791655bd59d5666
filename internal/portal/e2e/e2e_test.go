// Package e2e runs the tenant portal's browser test: it builds bulkprov,
// starts `bulkprov portal` (the whole local pipeline) and drives the page
// in headless Chromium with web/portal/e2e/portal.e2e.mjs (playwright-core
// and axe-core from the repository's node_modules): a tenant admin's whole
// day, from setting the defaults to downloading the users.
package e2e

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const chromium = "/usr/bin/chromium"

// The upload: three users, the second with an email that is not one.
const (
	uploadCSV = "extension,first_name,last_name,email,mac\n" +
		"400,Ann,Lee,ann.lee@acme.example,00:04:f2:aa:bb:01\n" +
		"401,Bo,Ek,bo.ek@,\n" +
		"402,Cy,Ng,cy.ng@acme.example,\n"
	badRow   = "1"
	fixValue = "bo.ek@acme.example"
	// The local SES rejects the first email to 401 (the release fails it,
	// sending the unsent ones delivers it) and fails the first to 402 with
	// HTTP 500 (uncertain: resent only after the admin confirms).
	rejectedExt    = "401"
	rejectedEmail  = fixValue
	uncertainExt   = "402"
	uncertainEmail = "cy.ng@acme.example"
	// Defaults the admin sets first.
	phoneModel      = "polycom-vvx450"
	subject         = "Welcome to {{.TENANT_NAME}}, {{.NAME}}"
	subjectRendered = "Welcome to acme, Ann Lee"
	subjectSent     = "Welcome to acme, "
)

// TestPortalInChromium walks a tenant admin's day in Chromium (the script
// takes the screenshots), then checks what the day left behind: the
// downloaded reports, the emails sent, the users download, the axe report.
func TestPortalInChromium(t *testing.T) {
	node, root := browserTestTools(t)
	artifacts, csvPath := prepareArtifacts(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := bulkprovBinary(ctx, t, root)

	outbox := filepath.Join(t.TempDir(), "outbox")
	url := startPortal(ctx, t, bin, outbox, filepath.Join(artifacts, "portal.log"))
	runAdminDay(ctx, t, node, root, url, csvPath, artifacts)

	// The report downloaded when the job finished: every row created, the
	// fixed one included, in the lines of the CSV the page saved, and every
	// email held (welcome=none).
	want := map[string]string{"400": "2 acme-400 created", "401": "3 acme-401 created", "402": "4 acme-402 created"}
	checkReport(t, filepath.Join(artifacts, "report.csv"), want, "deferred")
	// After the release and the resend, the refreshed report shows every
	// email sent.
	checkReport(t, filepath.Join(artifacts, "report-after-emails.csv"), want, "sent")

	// The pipeline really ran: one welcome email per user, with the
	// tenant's subject: the address fixed in the grid (rejected once, then
	// sent) and the uncertain one (resent on confirmation) once each.
	checkOutbox(t, outbox)

	// The users download is the tenant's users in the template's columns;
	// 400's phone, given by MAC alone, got the default model the admin set.
	checkUsersDownload(t, filepath.Join(artifacts, "users.csv"))

	// Every screen passed axe-core with no serious or critical violation
	// (the script fails otherwise); the report is kept with the screenshots.
	if _, err := os.Stat(filepath.Join(artifacts, "axe.json")); err != nil {
		t.Errorf("axe report: %v", err)
	}
	fmt.Fprintf(os.Stderr, "portal e2e: passed; screenshots in %s\n", artifacts)
}

// browserTestTools finds node and the repository root, and fails with how to
// install Chromium, node or the npm packages when one is missing.
func browserTestTools(t *testing.T) (node, root string) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the portal's browser test needs Chromium at %s: install it with `apt-get install -y chromium` (%v)", chromium, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the portal's browser test needs node on PATH (Node 20): %v", err)
	}
	root, err = filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"playwright-core", "axe-core"} {
		if _, err := os.Stat(filepath.Join(root, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("%s is not installed: run `npm ci` in %s (%v)", pkg, root, err)
		}
	}
	return node, root
}

// prepareArtifacts makes the folder the screenshots and downloads go to
// ($BULKPROV_ARTIFACTS/portal-e2e or a kept temporary one) and writes the
// upload's CSV there.
func prepareArtifacts(t *testing.T) (artifacts, csvPath string) {
	var err error
	artifacts = os.Getenv("BULKPROV_ARTIFACTS")
	if artifacts == "" {
		// Kept after the test so the screenshots can be looked at.
		if artifacts, err = os.MkdirTemp("", "bulkprov-portal-e2e-"); err != nil {
			t.Fatal(err)
		}
	} else if artifacts, err = filepath.Abs(filepath.Join(artifacts, "portal-e2e")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "portal e2e: screenshots and the downloaded report go to %s\n", artifacts)
	csvPath = filepath.Join(artifacts, "staff-with-one-bad-row.csv")
	if err := os.WriteFile(csvPath, []byte(uploadCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	return artifacts, csvPath
}

// bulkprovBinary returns $BULKPROV_BIN or builds ./cmd/bulkprov.
func bulkprovBinary(ctx context.Context, t *testing.T, root string) string {
	bin := os.Getenv("BULKPROV_BIN") // a prebuilt binary, e.g. from make build in CI
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "bulkprov")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bulkprov")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/bulkprov: %v\n%s", err, out)
		}
	}
	return bin
}

// runAdminDay runs web/portal/e2e/portal.e2e.mjs against the portal at url:
// the admin's day in Chromium, with a screenshot of every screen.
func runAdminDay(ctx context.Context, t *testing.T, node, root, url, csvPath, artifacts string) {
	script := exec.CommandContext(ctx, node, filepath.Join(root, "web", "portal", "e2e", "portal.e2e.mjs"))
	script.Dir = root
	script.Env = append(os.Environ(),
		"PORTAL_URL="+url, "CSV_PATH="+csvPath, "ARTIFACTS="+artifacts, "CHROMIUM="+chromium,
		"BAD_ROW="+badRow, "FIX_VALUE="+fixValue, "REJECTED_EXT="+rejectedExt, "UNCERTAIN_EXT="+uncertainExt, "PHONE_MODEL="+phoneModel,
		"SUBJECT="+subject, "SUBJECT_RENDERED="+subjectRendered)
	out, err := script.CombinedOutput()
	t.Logf("browser test output:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed (%v); screenshots in %s", err, artifacts)
	}
}

// checkOutbox: one welcome email per user, each with the tenant's subject.
func checkOutbox(t *testing.T, outbox string) {
	emails, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	to := map[string]int{}
	for _, e := range emails {
		b, err := os.ReadFile(e)
		if err != nil {
			t.Fatal(err)
		}
		msg := string(b)
		if !strings.Contains(msg, "Subject: "+subjectSent) {
			t.Errorf("%s does not have the tenant's subject %q", e, subjectSent)
		}
		for _, addr := range []string{"ann.lee@acme.example", fixValue, uncertainEmail} {
			if strings.Contains(msg, "To: ") && strings.Contains(msg, addr) {
				to[addr]++
			}
		}
	}
	if len(emails) != 3 || to[fixValue] != 1 || to[uncertainEmail] != 1 || to["ann.lee@acme.example"] != 1 {
		t.Errorf("outbox has %d emails, by recipient %v; want 3, one each", len(emails), to)
	}
}

// checkUsersDownload: the template's columns, the three users in order, the
// fixed email, and the default phone model for the phone given by MAC alone.
func checkUsersDownload(t *testing.T, path string) {
	users := readCSV(t, path)
	if len(users) != 4 || strings.Join(users[0][:4], ",") != "extension,first_name,last_name,email" {
		t.Fatalf("users.csv = %v, want the template header and 3 users", users)
	}
	model := slices.Index(users[0], "phone_model")
	if model < 0 || users[1][model] != phoneModel {
		t.Errorf("users.csv: 400's phone_model (column %d) in %v, want %s", model, users[1], phoneModel)
	}
	for i, ext := range []string{"400", "401", "402"} {
		if len(users) > i+1 && users[i+1][0] != ext {
			t.Errorf("users.csv row %d extension %q, want %s", i+1, users[i+1][0], ext)
		}
	}
	if len(users) > 2 && users[2][3] != fixValue {
		t.Errorf("users.csv: 401's email %q, want the fixed %s", users[2][3], fixValue)
	}
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil || len(records) == 0 {
		t.Fatalf("%s: %v (%d records)", path, err, len(records))
	}
	return records
}

// checkReport checks report.csv's rows by extension and every row's email status.
func checkReport(t *testing.T, path string, want map[string]string, email string) {
	t.Helper()
	records := readCSV(t, path)
	col := map[string]int{}
	for i, name := range records[0] {
		col[name] = i
	}
	for _, name := range []string{"line", "extension", "user", "status", "email_status"} {
		if _, ok := col[name]; !ok {
			t.Fatalf("%s: header %v has no %q column", path, records[0], name)
		}
	}
	got := map[string]string{}
	for _, r := range records[1:] {
		got[r[col["extension"]]] = r[col["line"]] + " " + r[col["user"]] + " " + r[col["status"]]
		if r[col["email_status"]] != email {
			t.Errorf("%s: row %s email_status %q, want %q", path, r[col["extension"]], r[col["email_status"]], email)
		}
	}
	for ext, w := range want {
		if got[ext] != w {
			t.Errorf("%s: row %s = %q, want %q (report %v)", path, ext, got[ext], w, records)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%s has rows %v, want %v", path, got, want)
	}
}

var readyLine = regexp.MustCompile(`Portal ready at (http://127\.0\.0\.1:\d+)/`)

// startPortal runs `bulkprov portal` on a free loopback port and returns
// its URL once it is ready; the process is interrupted at cleanup.
func startPortal(ctx context.Context, t *testing.T, bin, outbox, logPath string) string {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "portal", "--addr", "127.0.0.1:0", "--tenant", "acme", "--outbox", outbox,
		"--reject-email-once", rejectedEmail, "--uncertain-email-once", uncertainEmail)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("bulkprov portal exited with %v (log: %s)", err, logPath)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("bulkprov portal did not stop within 30 s of SIGINT")
		}
		logFile.Close()
	})

	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	select {
	case u := <-urls:
		return u
	case err := <-done:
		done <- err // for the cleanup
		log, _ := os.ReadFile(logPath)
		t.Fatalf("bulkprov portal exited before it was ready: %v\n%s", err, strings.TrimSpace(string(log)))
	case <-ctx.Done():
		t.Fatalf("bulkprov portal was not ready in time (log: %s)", logPath)
	}
	return ""
}
