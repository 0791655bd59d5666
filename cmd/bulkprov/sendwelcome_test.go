package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// seedNoneJob leaves in stateDir what a welcome=none job leaves: tenant,
// job item, users' sealed credentials and a batch results object, and no
// email.
func seedNoneJob(t *testing.T, stateDir, tenant, job string, exts ...string) {
	t.Helper()
	ctx := context.Background()
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: stateDir})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stack.Close(); err != nil {
			t.Error(err)
		}
	}()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	if err := st.PutTenant(ctx, pbx.Tenant{Name: tenant, DisplayName: tenant}, pbx.LocalTenantOverrides(tenant)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateJob(ctx, jobmodel.Job{Tenant: tenant, ID: job, Status: jobmodel.Done,
		Options: pbx.Options{OnExisting: pbx.OnExistingFail, Welcome: pbx.WelcomeNone}}); err != nil {
		t.Fatal(err)
	}
	sealer, err := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID).Sealer(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var rows []events.RowResult
	for i, ext := range exts {
		sip := pbx.SIPUserName(ext, tenant)
		seal := func(v, binding string) secrets.Sealed {
			s, err := sealer.Seal([]byte(v), binding)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		portal := seal("invite-token-"+ext, pbx.PortalBinding(sip))
		if err := store.New(stack.Clients.DynamoDB, stack.Table).PutCredentials(ctx, tenant, pbx.Credentials{SIPUser: sip, Extension: ext, PortalKind: pbx.WelcomeInvite, Portal: &portal,
			SIPSecret: seal("sip-"+ext, pbx.SIPSecretBinding(sip)), PIN: seal("4802"+ext, pbx.PINBinding(sip))}); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, events.RowResult{Line: 2 + i, Extension: ext, Name: "User " + ext, User: pbx.PortalUserName(tenant, ext),
			SIPUser: sip, Email: "u" + ext + "@" + tenant + ".example", Status: events.StatusCreated})
	}
	key := jobfiles.ResultKey(tenant, job, jobfiles.BatchID(2))
	body, _ := json.Marshal(events.BatchResult{Tenant: tenant, Job: job, Batch: jobfiles.BatchID(2), JobsBucket: stack.JobsBucket, ResultKey: key, Rows: rows})
	if _, err := stack.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(stack.JobsBucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func TestSendWelcomeSendsDeferredEmailsOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	seedNoneJob(t, dir, "acme", "jdeferred01", "100", "101")
	outbox := func() []string {
		t.Helper()
		entries, err := os.ReadDir(dir + "/outbox")
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".eml") {
				names = append(names, e.Name())
			}
		}
		return names
	}
	if n := len(outbox()); n != 0 {
		t.Fatalf("%d messages before send-welcome", n)
	}

	var stdout, stderr bytes.Buffer
	code := runSendWelcome(ctx, []string{"--tenant", "acme", "--job", "jdeferred01", "--state", dir}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "2 sent, 0 already sent, 0 failed") {
		t.Errorf("stdout = %q", stdout.String())
	}
	msgs := outbox()
	if len(msgs) != 2 {
		t.Fatalf("outbox = %v, want 2 messages", msgs)
	}
	raw, err := os.ReadFile(dir + "/outbox/" + msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "invite-token-10") {
		t.Errorf("message lacks the invite link:\n%s", raw)
	}

	// Again: nothing new.
	stdout.Reset()
	code = runSendWelcome(ctx, []string{"--tenant", "acme", "--job", "jdeferred01", "--state", dir, "--json"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("second run: exit %d: %s", code, stderr.String())
	}
	var out struct {
		Sent        int `json:"sent"`
		AlreadySent int `json:"already_sent"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Sent != 2 || out.AlreadySent != 0 {
		// The same job re-running reports its own sends as sent.
		t.Fatalf("second run output %q (%v)", stdout.String(), err)
	}
	if n := len(outbox()); n != 2 {
		t.Fatalf("second run sent again: %d messages", n)
	}
}

func TestSendWelcomeUsage(t *testing.T) {
	dir := t.TempDir()
	for name, args := range map[string][]string{
		"no tenant":     {"--job", "j1"},
		"bad tenant":    {"--tenant", "Acme-Corp", "--job", "j1"},
		"no job":        {"--tenant", "acme"},
		"extra arg":     {"--tenant", "acme", "--job", "j1", "x"},
		"unknown flag":  {"--tenant", "acme", "--job", "j1", "--nope"},
		"empty state":   {"--tenant", "acme", "--job", "j1", "--state", dir},
		"job with path": {"--tenant", "acme", "--job", "../j1"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runSendWelcome(context.Background(), args, &stdout, &stderr); code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitUsage, stderr.String())
			}
			if stderr.Len() == 0 {
				t.Fatal("no message on stderr")
			}
		})
	}
}
