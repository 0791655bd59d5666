//go:build linux

package welcome

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/awsconf"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// sesAccountJSON is what the emulator's GetAccount returns (it validates
// the full shape).
const sesAccountJSON = `{"DedicatedIpAutoWarmupEnabled":false,
"Details":{"AdditionalContactEmailAddresses":[],"ContactLanguage":"EN","MailType":"TRANSACTIONAL",
"ReviewDetails":{"CaseId":"c1","Status":"GRANTED"},"UseCaseDescription":"onboarding","WebsiteURL":"https://pbx.example"},
"EnforcementStatus":"HEALTHY","ProductionAccessEnabled":true,"SendingEnabled":true,
"SendQuota":{"Max24HourSend":50000,"MaxSendRate":50,"SentLast24Hours":0},
"SuppressionAttributes":{"SuppressedReasons":[]}}`

// repoRoot walks up from the working directory to the folder with go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// startSESLocal runs the third-party aws-ses-v2-local emulator (npm, pinned)
// on a free loopback port and returns its base URL.
func startSESLocal(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "node_modules", ".bin", "aws-ses-v2-local")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("aws-ses-v2-local is not installed (%v): run `npm ci` in the repository root", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): install Node 20 and run `npm ci`", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	cmd.Env = append(os.Environ(), "AWS_SES_ACCOUNT="+sesAccountJSON)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no orphan if the test binary dies
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatalf("start aws-ses-v2-local: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/health-check")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("aws-ses-v2-local exited: %v\n%s\n(run `npm ci` if its dependencies are missing)", err, output.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-ses-v2-local did not answer within 30 s:\n%s", output.String())
		}
	}
}

// sesLocalEmail is one message as the emulator's GET /store lists it.
type sesLocalEmail struct {
	MessageID   string `json:"messageId"`
	From        string `json:"from"`
	Subject     string `json:"subject"`
	Destination struct {
		To []string `json:"to"`
	} `json:"destination"`
	Body struct {
		Text string `json:"text"`
		HTML string `json:"html"`
	} `json:"body"`
}

func sesLocalStore(t *testing.T, base string) []sesLocalEmail {
	t.Helper()
	resp, err := http.Get(base + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct {
		Emails []sesLocalEmail `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	return store.Emails
}

// TestHandlerAgainstSESV2Local sends through a second, independent SES v2
// implementation: our raw MIME must parse there too, and replays must not
// send again.
func TestHandlerAgainstSESV2Local(t *testing.T) {
	ctx := context.Background()
	base := startSESLocal(t)
	clients, err := awsconf.New(ctx, awsconf.Endpoints{SES: base})
	if err != nil {
		t.Fatal(err)
	}
	const tenant = "wlocal"
	nonASCII := created(3, "101", tenant, "zoe@wlocal.example")
	nonASCII.Name = "Zoë Ångström"
	failed := created(4, "102", tenant, "carl@wlocal.example")
	failed.Status = events.StatusFailed
	f := newFixture(t, tenant, pbx.WelcomeInvite, []events.RowResult{created(2, "100", tenant, "ann@wlocal.example"), nonASCII, failed})
	h := f.handler()
	h.SES = clients.SES

	out, err := h.Handle(ctx, f.input(f.job, f.key))
	if err != nil {
		t.Fatal(err)
	}
	if out.Sent != 2 || out.Failed != 0 {
		t.Fatalf("output = %+v", out)
	}
	emails := sesLocalStore(t, base)
	if len(emails) != 2 {
		t.Fatalf("emulator holds %d emails, want 2", len(emails))
	}
	results := f.emailResults(t, out)
	byTo := map[string]sesLocalEmail{}
	for _, e := range emails {
		if len(e.Destination.To) != 1 {
			t.Fatalf("recipients %v", e.Destination.To)
		}
		byTo[e.Destination.To[0]] = e
	}
	ann, zoe := byTo[`"User 100" <ann@wlocal.example>`], byTo[`"Zoë Ångström" <zoe@wlocal.example>`]
	if ann.MessageID == "" || ann.MessageID != results[2].EmailMessageID {
		t.Errorf("ann: emulator %+v, result %+v (recipients %v)", ann, results[2], keys(byTo))
	}
	if zoe.MessageID != results[3].EmailMessageID {
		t.Errorf("zoe: emulator message %q, result %q (recipients %v)", zoe.MessageID, results[3].EmailMessageID, keys(byTo))
	}
	if ann.Subject != "Welcome to wlocal: your phone and portal access" || !strings.Contains(ann.From, "onboarding@pbx.example") {
		t.Errorf("ann's headers: subject %q from %q", ann.Subject, ann.From)
	}
	if !strings.Contains(ann.Body.Text, "https://portal.pbx.example/invite/portal-100-wlocal") || !strings.Contains(ann.Body.HTML, `href="https://portal.pbx.example/invite/portal-100-wlocal"`) {
		t.Errorf("ann's bodies lack the invite link:\n%s\n%s", ann.Body.Text, ann.Body.HTML)
	}
	if !strings.Contains(zoe.Body.Text, "Hello Zoë Ångström,") {
		t.Errorf("zoe's text body = %q", zoe.Body.Text)
	}

	if _, err := h.Handle(ctx, f.input(f.job, f.key)); err != nil {
		t.Fatal(err)
	}
	if n := len(sesLocalStore(t, base)); n != 2 {
		t.Fatalf("replay: emulator holds %d emails, want still 2", n)
	}
}
