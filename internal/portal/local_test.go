package portal

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/provision"
	portalweb "github.com/bulkprov/bulkprov/web/portal"
)

// localPortal starts the local server on a loopback port, as `bulkprov
// portal` does, with acme as the one tenant that may sign in.
func localPortal(t *testing.T) (*httptest.Server, *DevTokens) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	tokens, err := NewDevTokens([]byte(strings.Repeat("t", 32)), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := testStore()
	h, err := NewLocalServer(LocalConfig{
		PublicURL: "http://" + srv.Listener.Addr().String(), S3Endpoint: stack.Endpoints.S3, AWS: stack.Clients.Config,
		UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket,
		Jobs: st, Settings: st, Lookup: st, Objects: stack.Clients.S3,
		Tenants: []string{tenantA}, Tokens: tokens, Files: portalweb.Files(), KnownPhoneModel: provision.KnownModel,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, tokens
}

// browser is an HTTP client with a cookie jar, like the page's fetch.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func do(t *testing.T, c *http.Client, method, url, contentType, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func signIn(t *testing.T, c *http.Client, base, tenant string) *http.Response {
	t.Helper()
	resp, _ := do(t, c, "POST", base+"/dev/signin", "application/json", `{"tenant":"`+tenant+`"}`, nil)
	return resp
}

func TestLocalServesThePage(t *testing.T) {
	srv, _ := localPortal(t)
	c := browser(t)
	for path, want := range map[string]string{"/": "Bulk user onboarding", "/app.js": "POST', '/uploads'", "/app.css": "--accent"} {
		resp, body := do(t, c, "GET", srv.URL+path, "", "", nil)
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %s, body lacks %q", path, resp.Status, want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s CSP = %q", path, csp)
		}
	}
	resp, body := do(t, c, "GET", srv.URL+"/config.json", "", "", nil)
	var cfg struct {
		API  string `json:"api"`
		Auth struct {
			Mode    string   `json:"mode"`
			Tenants []string `json:"tenants"`
		} `json:"auth"`
	}
	if err := json.Unmarshal([]byte(body), &cfg); err != nil || resp.StatusCode != 200 || cfg.API != "/api" || cfg.Auth.Mode != "dev" || len(cfg.Auth.Tenants) != 1 {
		t.Errorf("config.json = %s %s", resp.Status, body)
	}
}

func TestLocalSignIn(t *testing.T) {
	srv, tokens := localPortal(t)
	c := browser(t)

	resp, body := do(t, c, "GET", srv.URL+"/api/me", "", "", nil)
	if resp.StatusCode != 401 || body != `{"message":"Unauthorized"}` {
		t.Fatalf("unauthenticated /api/me = %s %s", resp.Status, body)
	}
	for _, bad := range []string{`{"tenant":"globex"}`, `{"tenant":"../acme"}`, `{"tenant":"acme","admin":true}`, `tenant=acme`} {
		resp, _ := do(t, c, "POST", srv.URL+"/dev/signin", "application/json", bad, nil)
		if resp.StatusCode != 403 && resp.StatusCode != 400 {
			t.Errorf("sign-in with %s = %s", bad, resp.Status)
		}
	}
	resp = signIn(t, c, srv.URL, tenantA)
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in = %s", resp.Status)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Fatalf("session cookie = %+v", session)
	}
	resp, body = do(t, c, "GET", srv.URL+"/api/me", "", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"tenant":"acme"`) {
		t.Fatalf("/api/me after sign-in = %s %s", resp.Status, body)
	}

	// Scripts may send the token as a bearer; a forged one is refused.
	forger, _ := NewDevTokens([]byte(strings.Repeat("f", 32)), time.Hour, nil)
	forged, _, _ := forger.Issue(tenantA)
	good, _, _ := tokens.Issue(tenantA)
	for tok, want := range map[string]int{good: 200, forged: 401, "": 401} {
		resp, _ := do(t, http.DefaultClient, "GET", srv.URL+"/api/jobs", "", "", map[string]string{"Authorization": "Bearer " + tok})
		if resp.StatusCode != want {
			t.Errorf("bearer %.10s… = %s, want %d", tok, resp.Status, want)
		}
	}

	resp, _ = do(t, c, "POST", srv.URL+"/dev/signout", "", "", nil)
	if resp.StatusCode != 204 {
		t.Fatalf("sign-out = %s", resp.Status)
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/api/me", "", "", nil); resp.StatusCode != 401 {
		t.Errorf("/api/me after sign-out = %s", resp.Status)
	}
}

func TestLocalRefusesCrossSiteRequests(t *testing.T) {
	srv, _ := localPortal(t)
	c := browser(t)
	signIn(t, c, srv.URL, tenantA)
	body := `{"name":"a.csv","size":10}`
	for name, hdr := range map[string]map[string]string{
		"foreign origin":  {"Origin": "http://evil.example"},
		"cross-site":      {"Sec-Fetch-Site": "cross-site"},
		"same-site other": {"Sec-Fetch-Site": "same-site"},
	} {
		resp, _ := do(t, c, "POST", srv.URL+"/api/uploads", "application/json", body, hdr)
		if resp.StatusCode != 403 {
			t.Errorf("%s: POST /api/uploads = %s", name, resp.Status)
		}
	}
	resp, _ := do(t, c, "POST", srv.URL+"/api/uploads", "application/json", body, map[string]string{"Origin": srv.URL, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != 200 {
		t.Errorf("same-origin POST /api/uploads = %s", resp.Status)
	}
}

func TestLocalUploadThroughTheS3Path(t *testing.T) {
	srv, _ := localPortal(t)
	c := browser(t)
	signIn(t, c, srv.URL, tenantA)
	csvBody := "extension,first_name\n250,Ann\n"
	resp, body := do(t, c, "POST", srv.URL+"/api/uploads", "application/json", `{"name":"team.csv","size":`+itoa(len(csvBody))+`,"options":{"welcome":"none"}}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/uploads = %s %s", resp.Status, body)
	}
	var up UploadResponse
	if err := json.Unmarshal([]byte(body), &up); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.URL, srv.URL+LocalS3Path+"/"+stack.UploadsBucket+"/tenants/acme/") {
		t.Fatalf("presigned URL %s is not on the portal's S3 path", up.URL)
	}

	// Refusals: each is what a presigned URL of this portal for acme can
	// never be.
	u, _ := url.Parse(up.URL)
	q := u.Query()
	otherKey := strings.Replace(up.URL, "/tenants/acme/", "/tenants/globex/", 1)
	jobsBucket := strings.Replace(up.URL, "/"+stack.UploadsBucket+"/", "/"+stack.JobsBucket+"/", 1)
	dotdot := strings.Replace(up.URL, "/tenants/acme/", "/tenants/acme/%2E%2E/globex/", 1)
	unsigned := srv.URL + u.Path
	expired := func() string {
		e := *u
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("X-Amz-Date", time.Now().UTC().Add(-time.Hour).Format("20060102T150405Z"))
		qq.Set("X-Amz-Expires", "60")
		e.RawQuery = qq.Encode()
		return e.String()
	}()
	for name, tc := range map[string]struct {
		method, url string
		client      *http.Client
	}{
		"other tenant's prefix": {"PUT", otherKey, c},
		"jobs bucket PUT":       {"PUT", jobsBucket, c},
		"dot-dot":               {"PUT", dotdot, c},
		"unsigned":              {"PUT", unsigned, c},
		"expired":               {"PUT", expired, c},
		"signed out":            {"PUT", up.URL, http.DefaultClient},
		"read uploads":          {"GET", up.URL, c},
		"delete":                {"DELETE", up.URL, c},
	} {
		resp, _ := do(t, tc.client, tc.method, tc.url, "", csvBody, up.Headers)
		if resp.StatusCode != 403 {
			t.Errorf("%s: %s = %s, want 403", name, tc.method, resp.Status)
		}
	}
	if _, err := stack.Clients.S3.HeadObject(context.Background(), &s3.HeadObjectInput{
		Bucket: aws.String(stack.UploadsBucket), Key: aws.String(strings.Replace(up.Key, "/acme/", "/globex/", 1)),
	}); err == nil {
		t.Error("a refused PUT wrote into globex's prefix")
	}

	resp, body = do(t, c, up.Method, up.URL, "", csvBody, up.Headers)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT through the portal = %s %s", resp.Status, body)
	}
	head, err := stack.Clients.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(stack.UploadsBucket), Key: aws.String(up.Key)})
	if err != nil {
		t.Fatal(err)
	}
	if head.Metadata["welcome"] != "none" || aws.ToInt64(head.ContentLength) != int64(len(csvBody)) {
		t.Errorf("stored object: metadata %v, length %d", head.Metadata, aws.ToInt64(head.ContentLength))
	}
}

func TestLocalReportDownload(t *testing.T) {
	srv, _ := localPortal(t)
	c := browser(t)
	signIn(t, c, srv.URL, tenantA)
	j := jobFixture(t, tenantA, "", func(j *jobmodel.Job) {
		j.Status = jobmodel.Partial
		j.ReportKey = jobfiles.ReportKey(tenantA, j.ID)
	})
	putObject(t, stack.JobsBucket, j.ReportKey, "line,status\n2,created\n3,failed\n")
	resp, body := do(t, c, "GET", srv.URL+"/api/jobs/"+j.ID+"/report", "", "", nil)
	var link ReportLink
	if err := json.Unmarshal([]byte(body), &link); err != nil || resp.StatusCode != 200 {
		t.Fatalf("report link = %s %s", resp.Status, body)
	}
	resp, body = do(t, c, "GET", link.URL, "", "", nil)
	if resp.StatusCode != 200 || body != "line,status\n2,created\n3,failed\n" || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET report = %s %v %q", resp.Status, resp.Header, body)
	}
	// Another tenant's session cannot use the link.
	globex, _ := NewDevTokens([]byte(strings.Repeat("t", 32)), time.Hour, nil)
	tok, _, _ := globex.Issue(tenantB)
	resp, _ = do(t, http.DefaultClient, "GET", link.URL, "", "", map[string]string{"Cookie": SessionCookie + "=" + tok})
	if resp.StatusCode != 403 {
		t.Errorf("globex session reading acme's report = %s", resp.Status)
	}
}

func TestLambdaAdapter(t *testing.T) {
	var got struct {
		method, path, query, body, tenant string
		b64                               bool
		cookies                           int
	}
	fn := LambdaAdapter{
		Auth: func(r *http.Request) (map[string]string, error) { return map[string]string{TenantClaim: "acme"}, nil },
		Func: func(ctx context.Context, ev eventsRequest) (eventsResponse, error) {
			got.method, got.path, got.query = ev.RequestContext.HTTP.Method, ev.RawPath, ev.QueryStringParameters["a"]
			got.body, got.b64, got.tenant = ev.Body, ev.IsBase64Encoded, ev.RequestContext.Authorizer.JWT.Claims[TenantClaim]
			got.cookies = len(ev.Cookies)
			return eventsResponse{StatusCode: 201, Headers: map[string]string{"X-T": "1"}, Cookies: []string{"a=b"}, Body: "aGk=", IsBase64Encoded: true}, nil
		},
	}
	srv := httptest.NewServer(fn)
	defer srv.Close()
	resp, body := do(t, http.DefaultClient, "POST", srv.URL+"/x/y%2Fz?a=1&a=2", "application/octet-stream", "\x00\xff", map[string]string{"Cookie": "c=1; d=2"})
	if resp.StatusCode != 201 || body != "hi" || resp.Header.Get("X-T") != "1" || resp.Header.Get("Set-Cookie") != "a=b" {
		t.Errorf("response = %s %v %q", resp.Status, resp.Header, body)
	}
	if got.method != "POST" || got.path != "/x/y%2Fz" || got.query != "1,2" || !got.b64 || got.body != "AP8=" || got.tenant != "acme" || got.cookies != 2 {
		t.Errorf("event = %+v", got)
	}
}

type (
	eventsRequest  = events.APIGatewayV2HTTPRequest
	eventsResponse = events.APIGatewayV2HTTPResponse
)

// TestLocalRefusesOtherHosts (issue #17): a DNS-rebinding page, whose own
// name now resolves to the local portal, sends its own Host (and Origin):
// it can neither sign in nor read the tenant's jobs nor load the page.
func TestLocalRefusesOtherHosts(t *testing.T) {
	srv, tokens := localPortal(t)
	_, port, _ := strings.Cut(srv.Listener.Addr().String(), ":")
	attacker := "rebind.attacker.example:" + port
	good, _, _ := tokens.Issue(tenantA)
	withHost := func(method, path, body string, hdr map[string]string, host string) *http.Response {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 300 && strings.Contains(string(b), tenantA) && host == attacker {
			t.Errorf("%s %s for %s answered with the tenant's data: %s", method, path, host, b)
		}
		return resp
	}
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/dev/signin", `{"tenant":"` + tenantA + `"}`},
		{"GET", "/api/jobs", ""},
		{"GET", "/api/me", ""},
		{"GET", "/", ""},
		{"GET", "/config.json", ""},
	} {
		hdr := map[string]string{"Origin": "http://" + attacker, "Content-Type": "application/json", "Authorization": "Bearer " + good}
		if resp := withHost(tc.method, tc.path, tc.body, hdr, attacker); resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s %s with Host %s = %s, want 421", tc.method, tc.path, attacker, resp.Status)
		}
	}
	// The names of this machine's loopback still work.
	for _, host := range []string{srv.Listener.Addr().String(), "localhost:" + port, "LOCALHOST:" + port} {
		if resp := withHost("GET", "/api/me", "", map[string]string{"Authorization": "Bearer " + good}, host); resp.StatusCode != 200 {
			t.Errorf("GET /api/me with Host %s = %s", host, resp.Status)
		}
	}
	// Another port on loopback is another server.
	if resp := withHost("GET", "/api/me", "", nil, "127.0.0.1:1"); resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("other port: %s", resp.Status)
	}
}
