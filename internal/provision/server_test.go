package provision

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/store"
)

// rawGet sends a request line as written (no client-side path cleaning)
// and returns the raw response with the Date header removed.
func rawGet(t *testing.T, srv *httptest.Server, target, user, password string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" || password != "" {
		req.SetBasicAuth(user, password)
	}
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head strings.Builder
	head.WriteString("GET " + target + " HTTP/1.1\r\nHost: phones.example\r\nConnection: close\r\n")
	if a := req.Header.Get("Authorization"); a != "" {
		head.WriteString("Authorization: " + a + "\r\n")
	}
	head.WriteString("\r\n")
	if _, err := io.WriteString(conn, head.String()); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	var kept [][]byte
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if !bytes.HasPrefix(line, []byte("Date: ")) {
			kept = append(kept, line)
		}
	}
	status := 0
	if len(raw) > 12 {
		status = int(raw[9]-'0')*100 + int(raw[10]-'0')*10 + int(raw[11]-'0')
	}
	return status, bytes.Join(kept, []byte("\r\n"))
}

func TestServer(t *testing.T) {
	ctx := context.Background()
	st := store.New(env.stack.Clients.DynamoDB, env.stack.Table)
	acmePW, globexPW := store.GenerateProvisioningCredential(), store.GenerateProvisioningCredential()
	for tenant, pw := range map[string]string{"srvacme": acmePW, "srvglobex": globexPW} {
		if err := st.SetProvisioningCredential(ctx, tenant, pw); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{t: t, ctx: ctx}
	acmeFile := []byte("#!version:1.0.0.1\naccount.1.password = acme-secret\n")
	f.put(env.stack.ProvisioningBucket, "srvacme/001565000600.cfg", acmeFile)
	f.put(env.stack.ProvisioningBucket, "srvglobex/001565000601.cfg", []byte("globex file"))
	f.put(env.stack.ProvisioningBucket, "srvacme/x/../../srvglobex/001565000601.cfg", []byte("should never be served"))

	var logs bytes.Buffer
	h := &Server{S3: env.stack.Clients.S3, Bucket: env.stack.ProvisioningBucket, Credentials: st,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The right credential gets the file, through a real HTTP client.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/srvacme/001565000600.cfg", nil)
	req.SetBasicAuth("srvacme", acmePW)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, acmeFile) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("right credential: %d %q %v", resp.StatusCode, body, resp.Header)
	}

	_, reference := rawGet(t, srv, "/srvacme/001565000600.cfg", "srvacme", "wrong-password-xxxxxxxx")
	refusals := []struct {
		name, target, user, password string
	}{
		{"wrong credential", "/srvacme/001565000600.cfg", "srvacme", acmePW + "x"},
		{"no credential", "/srvacme/001565000600.cfg", "", ""},
		{"empty password", "/srvacme/001565000600.cfg", "srvacme", ""},
		{"unknown MAC", "/srvacme/001565999999.cfg", "srvacme", acmePW},
		{"unknown tenant", "/nosuchtenant/001565000600.cfg", "nosuchtenant", acmePW},
		{"other tenant's MAC with own credential", "/srvglobex/001565000601.cfg", "srvacme", acmePW},
		{"other tenant's credential on own path", "/srvacme/001565000600.cfg", "srvglobex", globexPW},
		{"dot-dot", "/srvacme/../srvglobex/001565000601.cfg", "srvacme", acmePW},
		{"stored traversal key", "/srvacme/x/../../srvglobex/001565000601.cfg", "srvacme", acmePW},
		{"encoded dot-dot", "/srvacme/%2e%2e/srvglobex/001565000601.cfg", "srvacme", acmePW},
		{"encoded upper", "/srvacme/%2E%2E%2Fsrvglobex%2F001565000601.cfg", "srvacme", acmePW},
		{"double slash", "/srvacme//001565000600.cfg", "srvacme", acmePW},
		{"leading double slash", "//srvacme/001565000600.cfg", "srvacme", acmePW},
		{"backslash", "/srvacme/..\\srvglobex\\001565000601.cfg", "srvacme", acmePW},
		{"encoded backslash", "/srvacme/%5c001565000600.cfg", "srvacme", acmePW},
		{"query", "/srvacme/001565000600.cfg?x=1", "srvacme", acmePW},
		{"bad user syntax", "/srvacme/001565000600.cfg", "SRVACME", acmePW},
		{"tenant root", "/srvacme/", "srvacme", acmePW},
	}
	for _, tt := range refusals {
		status, raw := rawGet(t, srv, tt.target, tt.user, tt.password)
		if status != http.StatusUnauthorized || !bytes.Equal(raw, reference) {
			t.Errorf("%s: status %d, answer differs from the reference refusal:\n%s\n--- reference:\n%s", tt.name, status, raw, reference)
		}
	}
	if !bytes.Contains(reference, []byte("Www-Authenticate: Basic realm=")) {
		t.Errorf("refusal lacks WWW-Authenticate:\n%s", reference)
	}
	if bytes.Contains(reference, []byte("secret")) {
		t.Error("refusal leaks content")
	}

	l := logs.String()
	for _, secret := range []string{acmePW, globexPW, "Basic "} {
		if strings.Contains(l, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(l, `"tenant":"srvacme","mac":"001565000600"`) {
		t.Errorf("fetch not logged with tenant and MAC:\n%s", l)
	}
}

// TestServerSameWork checks the timing class: a refused request makes the
// same backend calls as a served one (one credential lookup, one S3 GET).
func TestServerSameWork(t *testing.T) {
	ctx := context.Background()
	st := store.New(env.stack.Clients.DynamoDB, env.stack.Table)
	pw := store.GenerateProvisioningCredential()
	if err := st.SetProvisioningCredential(ctx, "srvwork", pw); err != nil {
		t.Fatal(err)
	}
	(&fixture{t: t, ctx: ctx}).put(env.stack.ProvisioningBucket, "srvwork/001565000700.cfg", []byte("x"))
	srv := httptest.NewServer(&Server{S3: env.stack.Clients.S3, Bucket: env.stack.ProvisioningBucket, Credentials: st})
	defer srv.Close()
	for _, tt := range []struct{ name, target, user, password string }{
		{"served", "/srvwork/001565000700.cfg", "srvwork", pw},
		{"wrong credential", "/srvwork/001565000700.cfg", "srvwork", "nope"},
		{"unknown tenant", "/srvnobody/001565000700.cfg", "srvnobody", pw},
		{"unknown MAC", "/srvwork/001565000799.cfg", "srvwork", pw},
		{"traversal", "/srvwork/%2e%2e/x.cfg", "srvwork", pw},
	} {
		before := env.calls.Snapshot()
		rawGet(t, srv, tt.target, tt.user, tt.password)
		calls := env.calls.Snapshot().Sub(before)
		if calls.Calls["DynamoDB.GetItem"] != 1 || calls.Calls["S3.GetObject"] != 1 {
			t.Errorf("%s: calls %v, want one GetItem and one GetObject", tt.name, calls.Calls)
		}
	}
}
