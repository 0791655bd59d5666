package softswitch_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/softswitch"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(testkit.ForTests(m, devstack.Config{}, func(s *devstack.Stack) { stack = s }))
}

// fixture writes tenants acme and beta with users through the store's own
// writer (WriteRows), as create-records does, and returns a handler on them.
type fixture struct {
	st      *store.Store
	h       *softswitch.Handler
	token   string
	log     *strings.Builder
	secrets map[string]string // SIP user → clear secret, as sealed
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	box := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	f := &fixture{st: st, secrets: map[string]string{}, log: &strings.Builder{}}
	for _, tenant := range []string{"acme", "beta"} {
		f.addTenant(t, box, tenant)
	}
	token, err := softswitch.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := softswitch.ParseTokenHashes(softswitch.TokenHash(token))
	if err != nil {
		t.Fatal(err)
	}
	f.token = token
	f.h = &softswitch.Handler{
		Resolver: &softswitch.Resolver{Dir: st, Secrets: box, Realms: []string{"sip.platform.example"}},
		Tokens:   hashes,
		Logger:   slog.New(slog.NewJSONHandler(f.log, nil)),
	}
	return f
}

// addTenant writes a tenant with user 100 (and, for acme, user 101 with
// a DID from the inventory), sealing each user's SIP secret and PIN.
func (f *fixture) addTenant(t *testing.T, box *secrets.Box, tenant string) {
	t.Helper()
	ctx := context.Background()
	overrides := []byte(`{"provisioning":{"enabled":true,"default_phone_model":"yealink-t54w","registrar":"sip.` + tenant + `.example"}}`)
	if err := f.st.PutTenant(ctx, pbx.Tenant{Name: tenant, DisplayName: tenant}, overrides); err != nil {
		t.Fatal(err)
	}
	settings, err := f.st.LoadSettings(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := box.Sealer(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	rows := []pbx.UserRow{{Line: 2, Extension: "100", FirstName: "Ann"}}
	if tenant == "acme" {
		// The operator's inventory assigns the number to acme.
		if _, _, err := f.st.AddDIDs(ctx, []string{"+14155550101"}, "acme"); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, pbx.UserRow{Line: 3, Extension: "101", FirstName: "Bruno", DID: "+14155550101"})
	}
	var ws []store.RowWrite
	for _, row := range rows {
		o, err := pbx.Build(tenant, settings, row)
		if err != nil {
			t.Fatal(err)
		}
		sip := o.Endpoint.SIPUser
		secret, err := secrets.SIPSecret()
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[sip] = secret
		c := pbx.Credentials{SIPUser: sip, Extension: row.Extension, PortalKind: pbx.WelcomeInvite}
		c.SIPSecret, _ = sealer.Seal([]byte(secret), pbx.SIPSecretBinding(sip))
		c.PIN, _ = sealer.Seal([]byte("4711"), pbx.PINBinding(sip))
		ws = append(ws, store.RowWrite{Line: row.Line, Objects: o, CreateDIDs: true, Credentials: c})
	}
	out, _, err := f.st.WriteRows(ctx, tenant, ws, store.WriteOptions{Job: "j1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if o.Err != nil {
			t.Fatalf("%s line %d: %v", tenant, o.Line, o.Err)
		}
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (f *fixture) get(t *testing.T, path string, q url.Values, token string) (int, map[string]string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("%s: Cache-Control %q", path, cc)
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s: %s: %v", path, rec.Body, err)
	}
	return rec.Code, body
}

// TestLookups runs the lookups on one fixture, in order: the last one
// reads the log the others wrote.
func TestLookups(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *fixture)
	}{
		{"auth: HA1 of the sealed secret, tenant's domain or a platform realm", testAuthHA1},
		{"auth: every no is the same 404", testAuthNotFound},
		{"token", testToken},
		{"bad requests", testBadRequests},
		{"extension and DID", testExtensionAndDID},
		{"store failure is 503, not a no", testStoreFailure},
		{"function URL adapter", testFunctionURL},
		{"no secret or HA1 in the log", testNoSecretInLog},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, f) })
	}
}

func auth(user, realm string) url.Values { return url.Values{"user": {user}, "realm": {realm}} }

// testAuthHA1: the HA1 of the sealed secret, for the tenant's domain or a
// platform realm, in any case.
func testAuthHA1(t *testing.T, f *fixture) {
	for _, realm := range []string{"sip.acme.example", "SIP.ACME.example", "sip.platform.example"} {
		code, body := f.get(t, softswitch.PathAuth, auth("100-acme", realm), f.token)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %v", realm, code, body)
		}
		secret := f.secrets["100-acme"]
		if body["ha1"] != md5hex("100-acme:"+realm+":"+secret) || body["ha1b"] != md5hex("100-acme@"+realm+":"+realm+":"+secret) {
			t.Errorf("%s: ha1 %s ha1b %s", realm, body["ha1"], body["ha1b"])
		}
		if body["tenant"] != "acme" || body["extension"] != "100" || body["user"] != "100-acme" {
			t.Errorf("%s: %v", realm, body)
		}
	}
}

// testAuthNotFound: every no (another tenant's domain, an unknown or
// malformed user) is the same 404.
func testAuthNotFound(t *testing.T, f *fixture) {
	for name, q := range map[string]url.Values{
		"another tenant's domain": auth("100-acme", "sip.beta.example"),
		"unknown extension":       auth("199-acme", "sip.acme.example"),
		"unknown tenant":          auth("100-gamma", "sip.acme.example"),
		"bare extension":          auth("100", "sip.acme.example"),
		"no tenant":               auth("100-", "sip.acme.example"),
		"not an extension":        auth("x1-acme", "sip.acme.example"),
		"leading zero extension":  auth("0100-acme", "sip.acme.example"),
		"realm with a path":       auth("100-acme", "sip.acme.example/x"),
	} {
		code, body := f.get(t, softswitch.PathAuth, q, f.token)
		if code != http.StatusNotFound || body["error"] != "not_found" || len(body) != 1 {
			t.Errorf("%s: %d %v, want 404 not_found", name, code, body)
		}
	}
}

// testToken: no token, another or a short one, or another scheme is 401.
func testToken(t *testing.T, f *fixture) {
	other, _ := softswitch.NewToken()
	for name, token := range map[string]string{"none": "", "another": other, "too short": "abc"} {
		code, body := f.get(t, softswitch.PathAuth, auth("100-acme", "sip.acme.example"), token)
		if code != http.StatusUnauthorized || body["ha1"] != "" {
			t.Errorf("%s: %d %v, want 401", name, code, body)
		}
	}
	req := httptest.NewRequest(http.MethodGet, softswitch.PathAuth, nil)
	req.Header.Set("Authorization", "Basic "+f.token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("Basic scheme: %d %v", rec.Code, rec.Header())
	}
}

// testBadRequests: a missing or repeated parameter is 400, an unknown
// path 404, a POST 405.
func testBadRequests(t *testing.T, f *fixture) {
	code, _ := f.get(t, softswitch.PathAuth, url.Values{"user": {"100-acme"}}, f.token)
	if code != http.StatusBadRequest {
		t.Errorf("no realm: %d", code)
	}
	code, _ = f.get(t, softswitch.PathAuth, url.Values{"user": {"100-acme", "101-acme"}, "realm": {"sip.acme.example"}}, f.token)
	if code != http.StatusBadRequest {
		t.Errorf("two users: %d", code)
	}
	code, _ = f.get(t, "/v1/sip/users", nil, f.token)
	if code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
	req := httptest.NewRequest(http.MethodPost, softswitch.PathAuth, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// testExtensionAndDID: the extension and DID lookups find the tenant's
// own user only.
func testExtensionAndDID(t *testing.T, f *fixture) {
	code, body := f.get(t, softswitch.PathExtension, url.Values{"tenant": {"acme"}, "ext": {"101"}}, f.token)
	if code != http.StatusOK || body["sip_user"] != "101-acme" || body["tenant"] != "acme" || body["extension"] != "101" {
		t.Errorf("extension 101: %d %v", code, body)
	}
	for _, q := range []url.Values{{"tenant": {"beta"}, "ext": {"101"}}, {"tenant": {"acme"}, "ext": {"102"}}, {"tenant": {"Acme"}, "ext": {"101"}}} {
		if code, body := f.get(t, softswitch.PathExtension, q, f.token); code != http.StatusNotFound {
			t.Errorf("%v: %d %v", q, code, body)
		}
	}
	code, body = f.get(t, softswitch.PathDID, url.Values{"number": {"+14155550101"}}, f.token)
	if code != http.StatusOK || body["sip_user"] != "101-acme" || body["did"] != "+14155550101" || body["tenant"] != "acme" {
		t.Errorf("DID: %d %v", code, body)
	}
	for _, n := range []string{"+14155550199", "14155550101", "+1415555010x"} {
		if code, body := f.get(t, softswitch.PathDID, url.Values{"number": {n}}, f.token); code != http.StatusNotFound {
			t.Errorf("DID %s: %d %v", n, code, body)
		}
	}
}

// testStoreFailure: a store failure is 503, not a no.
func testStoreFailure(t *testing.T, f *fixture) {
	broken := *f.h
	broken.Resolver = &softswitch.Resolver{Dir: store.New(stack.Clients.DynamoDB, "no-such-table"), Secrets: f.h.Resolver.Secrets}
	req := httptest.NewRequest(http.MethodGet, softswitch.PathAuth+"?user=100-acme&realm=sip.acme.example", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	rec := httptest.NewRecorder()
	broken.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

// testFunctionURL: the Lambda function URL adapter answers as the handler.
func testFunctionURL(t *testing.T, f *fixture) {
	res, err := f.h.HandleFunctionURL(t.Context(), events.LambdaFunctionURLRequest{
		RawPath: softswitch.PathAuth, RawQueryString: "user=101-acme&realm=sip.acme.example",
		Headers:        map[string]string{"authorization": "Bearer " + f.token},
		RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "GET"}},
	})
	if err != nil || res.StatusCode != http.StatusOK || !strings.Contains(res.Body, md5hex("101-acme:sip.acme.example:"+f.secrets["101-acme"])) ||
		res.Headers["Cache-Control"] != "no-store" {
		t.Errorf("%+v %v", res, err)
	}
	res, _ = f.h.HandleFunctionURL(t.Context(), events.LambdaFunctionURLRequest{RawPath: softswitch.PathAuth, RawQueryString: "user=%zz",
		Headers:        map[string]string{"authorization": "Bearer " + f.token},
		RequestContext: events.LambdaFunctionURLRequestContext{HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: "GET"}}})
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad query: %+v", res)
	}
}

// testNoSecretInLog: the log has outcomes, never a secret or an HA1.
func testNoSecretInLog(t *testing.T, f *fixture) {
	log := f.log.String()
	for sip, secret := range f.secrets {
		if strings.Contains(log, secret) || strings.Contains(log, md5hex(sip+":sip.acme.example:"+secret)) {
			t.Fatalf("log leaks %s's secret or HA1", sip)
		}
	}
	if !strings.Contains(log, `"outcome":"found"`) || !strings.Contains(log, `"tenant":"acme"`) {
		t.Errorf("log lacks outcomes: %s", log)
	}
}
