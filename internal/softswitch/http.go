package softswitch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Handler serves the SIP lookup API (README.md, "Wiring a softswitch"):
//
//	GET /v1/sip/auth?user=100-acme&realm=sip.acme.example  → Credential
//	GET /v1/sip/extension?tenant=acme&ext=101              → Target
//	GET /v1/sip/did?number=%2B14155550100                  → Target
//
// Every request needs "Authorization: Bearer <token>" with a token whose
// SHA-256 is in Tokens (401 otherwise). A "no" is one 404 whatever the
// reason; a failure of the table or KMS is 503, so the softswitch refuses
// the request rather than treat it as a wrong password.
type Handler struct {
	Resolver *Resolver
	Tokens   TokenHashes
	Logger   *slog.Logger
	Now      func() time.Time // tests; nil is time.Now
}

// Paths of the API.
const (
	PathAuth      = "/v1/sip/auth"
	PathExtension = "/v1/sip/extension"
	PathDID       = "/v1/sip/did"
)

type errorBody struct {
	Error string `json:"error"`
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := h.serveStatus(r.Context(), r.Method, r.URL.Path, r.URL.Query(), r.Header.Get("Authorization"))
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal"}`)
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	// Answers hold HA1s: no proxy or client may keep them.
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusUnauthorized {
		hdr.Set("WWW-Authenticate", `Bearer realm="bulkprov-sip-lookup"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// serve answers one request; it never logs a secret or an HA1.
func (h *Handler) serveStatus(ctx context.Context, method, path string, q url.Values, authorization string) (int, any) {
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	start := now()
	log := h.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	status, body, tenant, outcome := h.answer(ctx, method, path, q, authorization)
	log.LogAttrs(ctx, slog.LevelInfo, "sip lookup",
		slog.String("path", pbx.ClipN(path, 64)), slog.String("tenant", tenant), slog.Int("status", status),
		slog.String("outcome", outcome), slog.Duration("took", now().Sub(start)))
	return status, body
}

func (h *Handler) answer(ctx context.Context, method, path string, q url.Values, authorization string) (status int, body any, tenant, outcome string) {
	if method != http.MethodGet {
		return http.StatusMethodNotAllowed, errorBody{"method_not_allowed"}, "", "method"
	}
	if !h.Tokens.Accepts(authorization) {
		return http.StatusUnauthorized, errorBody{"unauthorized"}, "", "unauthorized"
	}
	one := func(name string) (string, bool) {
		v := q[name]
		return strings.TrimSpace(strings.Join(v, "")), len(v) == 1 && v[0] != ""
	}
	var (
		res any
		err error
	)
	switch path {
	case PathAuth:
		user, ok1 := one("user")
		realm, ok2 := one("realm")
		if !ok1 || !ok2 {
			return http.StatusBadRequest, errorBody{"want user and realm"}, "", "bad_request"
		}
		_, tenant, _ = splitSIPUser(user)
		res, err = h.Resolver.Auth(ctx, user, realm)
	case PathExtension:
		t, ok1 := one("tenant")
		ext, ok2 := one("ext")
		if !ok1 || !ok2 {
			return http.StatusBadRequest, errorBody{"want tenant and ext"}, "", "bad_request"
		}
		tenant = t
		res, err = h.Resolver.Extension(ctx, t, ext)
	case PathDID:
		did, ok := one("number")
		if !ok {
			return http.StatusBadRequest, errorBody{"want number"}, "", "bad_request"
		}
		var tg Target
		tg, err = h.Resolver.DID(ctx, did)
		tenant, res = tg.Tenant, tg
	default:
		return http.StatusNotFound, errorBody{"no_such_path"}, "", "path"
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, errorBody{"not_found"}, tenant, "not_found"
	case err != nil:
		if h.Logger != nil {
			h.Logger.ErrorContext(ctx, "sip lookup failed", "tenant", tenant, "path", path, "error", err)
		}
		return http.StatusServiceUnavailable, errorBody{"unavailable"}, tenant, "error"
	}
	return http.StatusOK, res, tenant, "found"
}

// HandleFunctionURL serves the API behind a Lambda function URL.
func (h *Handler) HandleFunctionURL(ctx context.Context, ev events.LambdaFunctionURLRequest) (events.LambdaFunctionURLResponse, error) {
	rec := &recorder{header: http.Header{}}
	if q, err := url.ParseQuery(ev.RawQueryString); err != nil {
		writeJSON(rec, http.StatusBadRequest, errorBody{"bad_query"})
	} else {
		auth := ev.Headers["authorization"] // function URLs lower-case header names
		status, body := h.serveStatus(ctx, ev.RequestContext.HTTP.Method, ev.RawPath, q, auth)
		writeJSON(rec, status, body)
	}
	headers := map[string]string{}
	for k := range rec.header {
		headers[k] = rec.header.Get(k)
	}
	return events.LambdaFunctionURLResponse{StatusCode: rec.status, Headers: headers, Body: rec.body.String()}, nil
}

// recorder is the http.ResponseWriter behind HandleFunctionURL.
type recorder struct {
	header http.Header
	status int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) WriteHeader(status int)      { r.status = status }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
