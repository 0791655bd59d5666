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

	"github.com/bulkprov/bulkprov/internal/secrets"
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

// deviceCreds is a DeviceCredentials on the test stack's table and KMS.
func deviceCreds() *DeviceCredentials {
	return &DeviceCredentials{
		Store: store.New(env.stack.Clients.DynamoDB, env.stack.Table),
		Box:   secrets.NewBox(env.stack.Clients.KMS, env.stack.KMSKeyID),
	}
}

// acme's two devices and globex's one, on the server fixture.
const acmeMAC, acmeMAC2, globexMAC = "001565000600", "001565000602", "001565000601"

// acmeFile is the file of acme's first device.
var acmeFile = []byte("#!version:1.0.0.1\naccount.1.password = acme-secret\n")

// serverFixture is a provisioning server on the test stack, over the files
// of tenants srvacme and srvglobex, with each device's own credential.
type serverFixture struct {
	t                         *testing.T
	srv                       *httptest.Server
	creds                     *DeviceCredentials
	logs                      *bytes.Buffer
	acmePW, acmePW2, globexPW string
}

func newServerFixture(t *testing.T) *serverFixture {
	t.Helper()
	ctx := context.Background()
	creds := deviceCreds()
	cred := func(tenant, mac string) string {
		_, pw, err := creds.Credential(ctx, tenant, tenant, mac)
		if err != nil {
			t.Fatal(err)
		}
		return pw
	}
	s := &serverFixture{t: t, creds: creds, logs: &bytes.Buffer{}}
	s.acmePW, s.acmePW2, s.globexPW = cred("srvacme", acmeMAC), cred("srvacme", acmeMAC2), cred("srvglobex", globexMAC)
	if s.acmePW == s.acmePW2 || len(s.acmePW) != 32 {
		t.Fatalf("device passwords %q and %q: not per device", s.acmePW, s.acmePW2)
	}
	f := &fixture{t: t, ctx: ctx}
	f.put(env.stack.ProvisioningBucket, "srvacme/001565000600.cfg", acmeFile)
	f.put(env.stack.ProvisioningBucket, "srvacme/001565000602.cfg", []byte("colleague's secret"))
	f.put(env.stack.ProvisioningBucket, "srvacme/8851-3PCC.xml", []byte("<flat-profile/>"))
	f.put(env.stack.ProvisioningBucket, "srvacme/snomD785.htm", []byte("<settings/>"))
	f.put(env.stack.ProvisioningBucket, "srvglobex/001565000601.cfg", []byte("globex file"))
	f.put(env.stack.ProvisioningBucket, "srvacme/x/../../srvglobex/001565000601.cfg", []byte("should never be served"))

	h := &Server{S3: env.stack.Clients.S3, Bucket: env.stack.ProvisioningBucket, Credentials: creds,
		Logger: slog.New(slog.NewJSONHandler(s.logs, nil))}
	s.srv = httptest.NewServer(h)
	t.Cleanup(s.srv.Close)
	return s
}

// get fetches target through a real HTTP client with a Basic credential.
func (s *serverFixture) get(target, user, pw string) (int, []byte) {
	t := s.t
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.srv.URL+target, nil)
	req.SetBasicAuth(user, pw)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: no Cache-Control no-store", target)
	}
	return resp.StatusCode, body
}

func TestServer(t *testing.T) {
	s := newServerFixture(t)
	// The device's own credential gets its file and the bootstrap files,
	// through a real HTTP client.
	if code, body := s.get("/srvacme/001565000600.cfg", acmeMAC, s.acmePW); code != http.StatusOK || !bytes.Equal(body, acmeFile) {
		t.Fatalf("own file: %d %q", code, body)
	}
	for _, boot := range []string{"/srvacme/8851-3PCC.xml", "/srvacme/snomD785.htm"} {
		if code, _ := s.get(boot, acmeMAC, s.acmePW); code != http.StatusOK {
			t.Errorf("%s with a device credential: %d", boot, code)
		}
	}
	s.checkRefusals()
	newPW := s.checkRotation()
	l := s.logs.String()
	for _, secret := range []string{s.acmePW, s.globexPW, newPW, "Basic "} {
		if strings.Contains(l, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(l, `"tenant":"srvacme","mac":"001565000600"`) {
		t.Errorf("fetch not logged with tenant and MAC:\n%s", l)
	}
}

// checkRefusals: every request that may not have a file (wrong or another
// device's credential, another tenant, a path trick) gets the very same
// answer, byte for byte, as a wrong password.
func (s *serverFixture) checkRefusals() {
	t, srv := s.t, s.srv
	acmePW, globexPW := s.acmePW, s.globexPW
	_, reference := rawGet(t, srv, "/srvacme/001565000600.cfg", acmeMAC, "wrong-password-xxxxxxxx")
	refusals := []struct {
		name, target, user, password string
	}{
		{"wrong credential", "/srvacme/001565000600.cfg", acmeMAC, acmePW + "x"},
		{"no credential", "/srvacme/001565000600.cfg", "", ""},
		{"empty password", "/srvacme/001565000600.cfg", acmeMAC, ""},
		{"colleague's file with own credential", "/srvacme/001565000602.cfg", acmeMAC, acmePW},
		{"own password, colleague's user", "/srvacme/001565000602.cfg", acmeMAC2, acmePW},
		{"unknown MAC", "/srvacme/001565999999.cfg", "001565999999", acmePW},
		{"own MAC, missing file", "/srvacme/cfg001565000600.xml", acmeMAC, acmePW},
		{"unknown tenant", "/nosuchtenant/001565000600.cfg", acmeMAC, acmePW},
		{"other tenant's file with own credential", "/srvglobex/001565000601.cfg", acmeMAC, acmePW},
		{"other tenant's credential on own path", "/srvacme/001565000601.cfg", globexMAC, globexPW},
		{"tenant-wide user name", "/srvacme/001565000600.cfg", "srvacme", acmePW},
		{"dot-dot", "/srvacme/../srvglobex/001565000601.cfg", acmeMAC, acmePW},
		{"stored traversal key", "/srvacme/x/../../srvglobex/001565000601.cfg", acmeMAC, acmePW},
		{"encoded dot-dot", "/srvacme/%2e%2e/srvglobex/001565000601.cfg", acmeMAC, acmePW},
		{"encoded upper", "/srvacme/%2E%2E%2Fsrvglobex%2F001565000601.cfg", acmeMAC, acmePW},
		{"encoded slash", "/srvacme%2F001565000600.cfg", acmeMAC, acmePW},
		{"double slash", "/srvacme//001565000600.cfg", acmeMAC, acmePW},
		{"leading double slash", "//srvacme/001565000600.cfg", acmeMAC, acmePW},
		{"sub-folder", "/srvacme/x/001565000600.cfg", acmeMAC, acmePW},
		{"backslash", "/srvacme/..\\srvglobex\\001565000601.cfg", acmeMAC, acmePW},
		{"encoded backslash", "/srvacme/%5c001565000600.cfg", acmeMAC, acmePW},
		{"query", "/srvacme/001565000600.cfg?x=1", acmeMAC, acmePW},
		{"MAC user in another notation", "/srvacme/001565000600.cfg", "00:15:65:00:06:00", acmePW},
		{"tenant root", "/srvacme/", acmeMAC, acmePW},
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
}

// checkRotation rotates one device's credential: its old password stops
// working, its colleague's does not change. It returns the new password.
func (s *serverFixture) checkRotation() string {
	t := s.t
	newPW, gen, err := s.creds.Rotate(context.Background(), "srvacme", "srvacme", acmeMAC)
	if err != nil || gen != 1 || newPW == s.acmePW {
		t.Fatalf("rotate: %q %d %v", newPW, gen, err)
	}
	if code, _ := s.get("/srvacme/001565000600.cfg", acmeMAC, s.acmePW); code != http.StatusUnauthorized {
		t.Errorf("old password after rotation: %d", code)
	}
	if code, _ := s.get("/srvacme/001565000600.cfg", acmeMAC, newPW); code != http.StatusOK {
		t.Errorf("new password after rotation: %d", code)
	}
	if code, _ := s.get("/srvacme/001565000602.cfg", acmeMAC2, s.acmePW2); code != http.StatusOK {
		t.Errorf("colleague after rotation: %d", code)
	}
	return newPW
}

// TestServerSameWork checks the timing class: every refused request makes
// the same backend calls whatever the MAC, tenant or path (one generation
// read; the tenant key is cached), and none of them reads the bucket.
func TestServerSameWork(t *testing.T) {
	ctx := context.Background()
	creds := deviceCreds()
	_, pw, err := creds.Credential(ctx, "srvwork", "srvwork", "001565000700")
	if err != nil {
		t.Fatal(err)
	}
	(&fixture{t: t, ctx: ctx}).put(env.stack.ProvisioningBucket, "srvwork/001565000700.cfg", []byte("x"))
	srv := httptest.NewServer(&Server{S3: env.stack.Clients.S3, Bucket: env.stack.ProvisioningBucket, Credentials: creds})
	defer srv.Close()
	// Warm the key cache for both tenants, as a running server has it.
	rawGet(t, srv, "/srvwork/001565000700.cfg", "001565000700", "x")
	rawGet(t, srv, "/srvnobody/001565000700.cfg", "001565000700", "x")
	for _, tt := range []struct {
		name, target, user, password string
		s3                           int
	}{
		{"served", "/srvwork/001565000700.cfg", "001565000700", pw, 1},
		{"wrong credential", "/srvwork/001565000700.cfg", "001565000700", "nope", 0},
		{"unknown tenant", "/srvnobody/001565000700.cfg", "001565000700", pw, 0},
		{"existing MAC, guessed password", "/srvwork/001565000700.cfg", "001565000700", strings.Repeat("0", 32), 0},
		{"missing MAC, guessed password", "/srvwork/001565000799.cfg", "001565000799", strings.Repeat("0", 32), 0},
		{"traversal", "/srvwork/%2e%2e/x.cfg", "001565000700", pw, 0},
		{"malformed user", "/srvwork/001565000700.cfg", "srvwork", pw, 0},
	} {
		before := env.calls.Snapshot()
		rawGet(t, srv, tt.target, tt.user, tt.password)
		calls := env.calls.Snapshot().Sub(before)
		wantDB := 1
		if tt.name == "traversal" || tt.name == "malformed user" {
			wantDB = 0 // nothing well-formed to look up; still hashed and compared
		}
		if calls.Calls["DynamoDB.GetItem"] != wantDB || calls.Calls["S3.GetObject"] != tt.s3 || calls.Calls["KMS.Decrypt"] != 0 {
			t.Errorf("%s: calls %v, want %d GetItem, %d GetObject, no Decrypt", tt.name, calls.Calls, wantDB, tt.s3)
		}
	}
}

// TestServerHost: only the Host the server listens on is served.
func TestServerHost(t *testing.T) {
	srv := httptest.NewServer(&Server{S3: env.stack.Clients.S3, Bucket: env.stack.ProvisioningBucket, Credentials: deviceCreds(), Host: "phones.example"})
	defer srv.Close()
	if status, _ := rawGet(t, srv, "/srvhost/001565000800.cfg", "001565000800", "x"); status != http.StatusUnauthorized {
		t.Errorf("own host: status %d, want the ordinary 401", status)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/srvhost/001565000800.cfg", nil)
	req.Host = "rebind.attacker.example"
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: status %d, want 421", resp.StatusCode)
	}
}

// TestFileAllowed: a device reads its own files and the bootstrap files,
// nothing else; every bootstrap name matches the shared pattern.
func TestFileAllowed(t *testing.T) {
	const mac = "001565a1b2c3"
	for _, model := range Models() {
		for _, name := range FileNames(model, mac) {
			if !FileAllowed(name, mac) {
				t.Errorf("%s: own file %s refused", model, name)
			}
			if FileAllowed(name, "001565a1b2c4") {
				t.Errorf("%s: %s allowed to another device", model, name)
			}
		}
	}
	for _, name := range BootstrapNames() {
		if !FileAllowed(name, mac) || deviceFileRE.MatchString(name) {
			t.Errorf("bootstrap %s: allowed %v, looks like a device file %v", name, FileAllowed(name, mac), deviceFileRE.MatchString(name))
		}
	}
	for _, name := range []string{"000000000000.cfg", "001565a1b2c3-phone.cfg", "cfg001565a1b2c3.cfg", "001565a1b2c3-bulkprov.xml", "spa504G.xml", "y000000000096.xml", "snomD785.xml"} {
		if FileAllowed(name, mac) {
			t.Errorf("%s allowed", name)
		}
	}
}
