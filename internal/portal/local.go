package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// SessionCookie holds the local portal's sign-in token.
const SessionCookie = "bulkprov_session"

// Paths of the local server.
const (
	LocalAPIPath = "/api"
	LocalS3Path  = "/s3"
)

// LocalConfig configures the portal as `bulkprov portal` serves it: the
// page, the same API handler as in AWS behind a development sign-in, and
// a guarded path to the local S3 for the browser's presigned requests.
type LocalConfig struct {
	// PublicURL is the origin the browser uses, e.g. http://127.0.0.1:8080.
	// Presigned URLs point at PublicURL + "/s3/...": gofakes3's CORS
	// answer does not allow the x-amz-meta-* headers the PUT must send, so
	// the browser talks to S3 through this same origin instead.
	PublicURL string
	// S3Endpoint is the local S3 that /s3/ forwards to.
	S3Endpoint string
	// AWS is the configuration the local S3 clients are built from.
	AWS           aws.Config
	UploadsBucket string
	JobsBucket    string

	Jobs     JobStore
	Settings SettingsLoader
	Lookup   ingest.TenantLookup
	Objects  ObjectLister // lists the jobs bucket directly
	// TenantSettings, Rows and Emails serve the settings page, the job
	// view's users and its email sending.
	TenantSettings TenantSettings
	Rows           JobRows
	Emails         EmailSender
	Budget         BudgetSpender // per-tenant request budgets; nil spends none

	// Tenants may be signed in as; others are refused.
	Tenants []string
	Tokens  *DevTokens
	// Files is the page (portalweb.Files()).
	Files           fs.FS
	KnownPhoneModel func(string) bool
	Logger          *slog.Logger
	Now             func() time.Time
}

type localServer struct {
	cfg    LocalConfig
	log    *slog.Logger
	s3     *url.URL
	origin *url.URL
	mux    *http.ServeMux
}

// NewLocalServer returns the local portal's http.Handler.
func NewLocalServer(cfg LocalConfig) (http.Handler, error) {
	if cfg.Tokens == nil || cfg.Files == nil || len(cfg.Tenants) == 0 {
		return nil, errors.New("portal: local server needs Tokens, Files and at least one tenant")
	}
	origin, err := url.Parse(cfg.PublicURL)
	if err != nil || origin.Scheme == "" || origin.Host == "" {
		return nil, fmt.Errorf("portal: public URL %q is not an absolute URL", cfg.PublicURL)
	}
	s3URL, err := url.Parse(cfg.S3Endpoint)
	if err != nil || s3URL.Scheme == "" || s3URL.Host == "" {
		return nil, fmt.Errorf("portal: S3 endpoint %q is not an absolute URL", cfg.S3Endpoint)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	presignBase := strings.TrimRight(cfg.PublicURL, "/") + LocalS3Path
	presigner := s3.NewPresignClient(s3.NewFromConfig(cfg.AWS, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(presignBase)
		o.UsePathStyle = true
	}))
	api := New(Config{
		UploadsBucket: cfg.UploadsBucket, JobsBucket: cfg.JobsBucket, BasePath: LocalAPIPath,
		KnownPhoneModel: cfg.KnownPhoneModel, Logger: log, Now: cfg.Now,
	}, Deps{Jobs: cfg.Jobs, Settings: cfg.Settings, Lookup: cfg.Lookup, Presigner: presigner, Objects: cfg.Objects,
		Tenants: cfg.TenantSettings, Rows: cfg.Rows, Emails: cfg.Emails, Budget: cfg.Budget})

	s := &localServer{cfg: cfg, log: log, s3: s3URL, origin: origin, mux: http.NewServeMux()}
	adapter := LambdaAdapter{Func: api.Handle, Auth: s.authenticate, MaxBodyBytes: DefaultMaxBodyBytes}
	s.mux.Handle(LocalAPIPath+"/", s.sameOrigin(adapter))
	s.mux.Handle(LocalS3Path+"/", s.sameOrigin(http.HandlerFunc(s.proxyS3)))
	s.mux.HandleFunc("GET /config.json", s.config)
	s.mux.Handle("POST /dev/signin", s.sameOrigin(http.HandlerFunc(s.signIn)))
	s.mux.Handle("POST /dev/signout", s.sameOrigin(http.HandlerFunc(s.signOut)))
	s.mux.Handle("/", staticFiles(cfg.Files))
	return s, nil
}

func (s *localServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.servesHost(r.Host) {
		// DNS rebinding (issue #17): a page of another site whose name now
		// resolves to loopback reaches this server with its own Host.
		s.log.Warn("portal: request for another host refused", "host", pbx.ClipN(r.Host, 100))
		writeJSONError(w, http.StatusMisdirectedRequest, codeForbidden, "this server answers only requests for "+s.origin.Host)
		return
	}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// style-src-attr: the welcome email preview (an iframe that inherits
	// this policy) shows the template's inline style attributes, as email
	// clients do; no script can run in it (sandbox, script-src).
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; "+
		"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	s.mux.ServeHTTP(w, r)
}

// servesHost reports whether host (the request's Host) names this server:
// the public URL's host, or, when that is a loopback address or localhost,
// any loopback name with the same port (names no other site can take).
func (s *localServer) servesHost(host string) bool {
	if strings.EqualFold(host, s.origin.Host) {
		return true
	}
	name, port, err := net.SplitHostPort(host)
	if err != nil || port != s.origin.Port() || !isLoopbackName(s.origin.Hostname()) {
		return false
	}
	return isLoopbackName(name)
}

func isLoopbackName(name string) bool {
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(name, "[]"))
	return ip != nil && ip.IsLoopback()
}

// staticFiles serves the page; only GET and HEAD.
func staticFiles(files fs.FS) http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, codeMethod, "use GET")
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

// authenticate reads the session cookie, or a bearer token for scripts.
func (s *localServer) authenticate(r *http.Request) (map[string]string, error) {
	tok := ""
	if c, err := r.Cookie(SessionCookie); err == nil {
		tok = c.Value
	}
	if a := r.Header.Get("Authorization"); a != "" {
		b, ok := strings.CutPrefix(a, "Bearer ")
		if !ok {
			return nil, ErrBadToken
		}
		tok = b
	}
	if tok == "" {
		return nil, ErrBadToken
	}
	return s.cfg.Tokens.Verify(tok)
}

// sameOrigin refuses state-changing requests sent from another site. The
// session cookie is SameSite=Strict already; this also covers browsers
// that treat 127.0.0.1 and localhost ports as one site.
func (s *localServer) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != s.origin.Scheme+"://"+s.origin.Host {
				writeJSONError(w, http.StatusForbidden, codeForbidden, "cross-site request refused")
				return
			}
			if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
				writeJSONError(w, http.StatusForbidden, codeForbidden, "cross-site request refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// config tells the page where the API is and how to sign in; in AWS the
// CDK stack writes this file next to the page.
func (s *localServer) config(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"api": LocalAPIPath,
		"auth": map[string]any{
			"mode": "dev", "signin": "/dev/signin", "signout": "/dev/signout", "tenants": s.cfg.Tenants,
		},
	})
}

func (s *localServer) signIn(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Tenant string `json:"tenant"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if mediaType(r.Header.Get("Content-Type")) != "application/json" || dec.Decode(&req) != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid", `send {"tenant": "<name>"} as application/json`)
		return
	}
	if !slices.Contains(s.cfg.Tenants, req.Tenant) {
		writeJSONError(w, http.StatusForbidden, codeForbidden, "that tenant is not available on this local portal")
		return
	}
	tok, exp, err := s.cfg.Tokens.Issue(req.Tenant)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid", "that is not a valid tenant name")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: tok, Path: "/", Expires: exp, MaxAge: int(time.Until(exp).Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.origin.Scheme == "https",
	})
	s.log.Info("dev sign-in", "tenant", req.Tenant)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"tenant": req.Tenant})
}

func (s *localServer) signOut(w http.ResponseWriter, _ *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

// proxyS3 forwards the browser's presigned requests to the local S3, but
// only those a presigned URL from this portal could carry for the
// signed-in tenant: PUT into its upload prefix, GET/HEAD of its job files,
// before the URL expires. gofakes3 checks no signature, so this is the
// local stand-in for S3's own check.
func (s *localServer) proxyS3(w http.ResponseWriter, r *http.Request) {
	claims, err := s.authenticate(r)
	if err != nil {
		writeJSONError(w, http.StatusForbidden, codeForbidden, "sign in first")
		return
	}
	tenant := claims[TenantClaim]
	rest := strings.TrimPrefix(r.URL.Path, LocalS3Path+"/")
	bucket, key, _ := strings.Cut(rest, "/")
	allowed := false
	switch r.Method {
	case http.MethodPut:
		allowed = bucket == s.cfg.UploadsBucket && strings.HasPrefix(key, jobfiles.UploadPrefix(tenant))
	case http.MethodGet, http.MethodHead:
		allowed = bucket == s.cfg.JobsBucket && strings.HasPrefix(key, jobfiles.TenantJobsPrefix(tenant))
	}
	if !allowed || strings.Contains(key, "..") || strings.Contains(key, "//") || !s.presignedAndFresh(r.URL.Query()) {
		writeJSONError(w, http.StatusForbidden, codeForbidden, "this request is not allowed")
		return
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = s.s3.Scheme
			pr.Out.URL.Host = s.s3.Host
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, LocalS3Path)
			pr.Out.URL.RawPath = strings.TrimPrefix(pr.In.URL.RawPath, LocalS3Path)
			pr.Out.Host = s.s3.Host
			pr.Out.Header.Del("Cookie")
			pr.Out.Header.Del("Authorization")
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			s.log.Error("local S3 proxy", "err", err)
			writeJSONError(w, http.StatusBadGateway, "internal", "the local S3 did not answer")
		},
	}
	proxy.ServeHTTP(w, r)
}

// presignedAndFresh checks that q carries a SigV4 presignature that has
// not expired.
func (s *localServer) presignedAndFresh(q url.Values) bool {
	if q.Get("X-Amz-Signature") == "" || q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
		return false
	}
	signed, err := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	secs, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || secs <= 0 || secs > 7*24*3600 {
		return false
	}
	return s.cfg.Now().Before(signed.Add(time.Duration(secs) * time.Second))
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]map[string]string{"error": {"code": code, "message": message}})
}
