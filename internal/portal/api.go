// Package portal is the tenant portal's API: one handler for API Gateway
// HTTP API events (payload v2) that checks an upload with ingest's own
// validation, hands the browser a presigned PUT into the tenant's upload
// prefix (so that nothing bypasses ingest), and reports jobs, their
// progress and their report. The tenant comes only from the authorizer's
// claim `custom:tenant`; every key the handler builds is under that
// tenant's prefixes.
//
// The same Handle serves AWS (functions/portal-api) and `bulkprov portal`,
// which wraps it in an http.Handler with a development sign-in
// (NewLocalServer).
package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TenantClaim is the JWT claim that names the caller's tenant.
const TenantClaim = "custom:tenant"

// Defaults for Config's zero fields.
const (
	DefaultMaxBodyBytes = 4 << 20 // under Lambda's 6 MB request limit, base64 included
	DefaultPresignTTL   = 15 * time.Minute
)

// JobStore reads a tenant's jobs; *store.Store satisfies it.
type JobStore interface {
	GetJob(ctx context.Context, tenant, id string) (jobmodel.Job, error)
	ListJobs(ctx context.Context, tenant string, limit int) ([]jobmodel.Job, error)
}

// SettingsLoader returns a tenant's effective settings with extra overrides
// (the upload's options) laid over them; *store.Store satisfies it.
type SettingsLoader interface {
	LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error)
}

// Presigner presigns S3 requests; *s3.PresignClient satisfies it.
type Presigner interface {
	PresignPutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
	PresignGetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.PresignOptions)) (*v4.PresignedHTTPRequest, error)
}

// ObjectLister lists objects, to count a running job's results; *s3.Client
// satisfies it.
type ObjectLister interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Config holds the handler's settings.
type Config struct {
	UploadsBucket string
	JobsBucket    string
	// BasePath is removed from request paths before routing ("/api" when
	// the API shares a domain with the page); "" for its own domain.
	BasePath string
	// MaxBodyBytes bounds request bodies (after base64 decoding).
	MaxBodyBytes int64
	// PresignTTL is how long presigned URLs stay valid.
	PresignTTL time.Duration
	// KnownPhoneModel is passed to ingest validation; nil uses ingest's default.
	KnownPhoneModel func(string) bool
	Logger          *slog.Logger
	Now             func() time.Time
	// APIBudget and ValidateBudget are each tenant's request budgets
	// (budget.go); zero values take the defaults. They apply when
	// Deps.Budget is set.
	APIBudget      store.Budget
	ValidateBudget store.Budget
}

// Deps are the handler's collaborators.
type Deps struct {
	Jobs      JobStore
	Settings  SettingsLoader
	Lookup    ingest.TenantLookup // stored data to validate against; nil skips those checks
	Presigner Presigner
	Objects   ObjectLister
	// Tenants reads and saves the tenant's settings (the settings page);
	// nil answers 501.
	Tenants TenantSettings
	// Rows reads a job's rows as its report shows them (*finalize.Handler);
	// nil answers 501.
	Rows JobRows
	// Emails sends a job's welcome emails on request (*welcomejob.Sender);
	// nil answers 501.
	Emails EmailSender
	Budget BudgetSpender // per-tenant request budgets; nil spends none
}

// Handler serves the portal API.
type Handler struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

// New returns a Handler; it panics if a required dependency is missing,
// which is a wiring bug.
func New(cfg Config, deps Deps) *Handler {
	if deps.Jobs == nil || deps.Settings == nil || deps.Presigner == nil || deps.Objects == nil {
		panic("portal.New: Jobs, Settings, Presigner and Objects are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.PresignTTL <= 0 {
		cfg.PresignTTL = DefaultPresignTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.APIBudget.Window == 0 {
		cfg.APIBudget = DefaultAPIBudget
	}
	if cfg.ValidateBudget.Window == 0 {
		cfg.ValidateBudget = DefaultValidateBudget
	}
	cfg.BasePath = strings.TrimRight(cfg.BasePath, "/")
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, deps: deps, log: log}
}

// request is one API call after authentication and routing.
type request struct {
	tenant string
	method string
	query  map[string]string
	header map[string]string // lowercased names
	body   []byte
}

// apiError is an error with the HTTP status and code it is answered with.
type apiError struct {
	status  int
	code    string
	field   string
	message string
	allow   string // for 405
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter int
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// Error codes that are not pbx application codes.
const (
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeMethod           = "method_not_allowed"
	codeTooLarge         = "too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeNotReady         = "not_ready"
	codeNotAvailable     = "not_available"
	codeReadOnly         = "read_only"
	codeConfirm          = "confirmation_required"
	codeNoEmail          = "no_email"
	codeRateLimited      = "rate_limited"
)

// Route is one endpoint of the API: Method and Path in API Gateway's route
// syntax ("/jobs/{id}"). This table is the one list of the API's routes:
// the page calls them and infra derives the HTTP API's routes from Routes.
type Route struct {
	Method string
	Path   string
	serve  func(h *Handler, ctx context.Context, r *request) (any, error)
}

var routeTable = []Route{
	{"GET", "/me", (*Handler).me},
	{"GET", "/template", (*Handler).template},
	{"POST", "/validate", (*Handler).validate},
	{"POST", "/uploads", (*Handler).createUpload},
	{"GET", "/jobs", (*Handler).listJobs},
	{"GET", "/jobs/{id}", (*Handler).getJob},
	{"GET", "/jobs/{id}/report", (*Handler).jobReport},
	{"GET", "/jobs/{id}/users", (*Handler).jobUsers},
	{"POST", "/jobs/{id}/welcome", (*Handler).sendJobWelcome},
	{"POST", "/jobs/{id}/users/{extension}/welcome", (*Handler).resendWelcome},
	{"GET", "/settings", (*Handler).getSettings},
	{"PUT", "/settings", (*Handler).putSettings},
	{"POST", "/settings/preview", (*Handler).previewSettings},
	{"GET", "/users", (*Handler).usersDownload},
}

// Routes returns the API's routes (method and path), for the HTTP API's
// route list.
func Routes() []Route {
	out := make([]Route, len(routeTable))
	for i, r := range routeTable {
		out[i] = Route{Method: r.Method, Path: r.Path}
	}
	return out
}

// paramChecks validate path parameters before any handler sees them.
var paramChecks = map[string]func(string) error{
	"id":        checkJobID,
	"extension": checkExtension,
}

// match finds the endpoint for a path's segments and method. A path that
// matches with another method is a 405 naming the allowed ones.
func match(seg []string, method string) (*Route, map[string]string, error) {
	var allow []string
	for i := range routeTable {
		rt := &routeTable[i]
		params, ok := matchPath(strings.Split(strings.Trim(rt.Path, "/"), "/"), seg)
		if !ok {
			continue
		}
		for name, v := range params {
			if err := paramChecks[name](v); err != nil {
				return nil, nil, err
			}
		}
		if method == rt.Method || (method == http.MethodHead && rt.Method == http.MethodGet) {
			return rt, params, nil
		}
		allow = append(allow, rt.Method)
	}
	if len(allow) > 0 {
		e := errorf(http.StatusMethodNotAllowed, codeMethod, "use %s for this endpoint", strings.Join(allow, " or "))
		e.allow = strings.Join(allow, ", ")
		return nil, nil, e
	}
	return nil, nil, nil
}

func matchPath(pattern, seg []string) (map[string]string, bool) {
	if len(pattern) != len(seg) {
		return nil, false
	}
	var params map[string]string
	for i, p := range pattern {
		if name, ok := strings.CutPrefix(p, "{"); ok {
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = seg[i]
			continue
		}
		if p != seg[i] {
			return nil, false
		}
	}
	return params, true
}

// Handle answers one API Gateway HTTP API (payload v2) request. It never
// returns an error: every failure is an HTTP answer, so API Gateway never
// turns a bug into an opaque 500 without a log line.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := h.cfg.Now()
	method := strings.ToUpper(ev.RequestContext.HTTP.Method)
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	tenant := ""
	res, err := h.serve(ctx, ev, method, path, &tenant)
	var resp events.APIGatewayV2HTTPResponse
	if err != nil {
		resp = h.errorResponse(ctx, err, tenant, method, path)
	} else {
		resp = res
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "portal request",
		slog.String("tenant", tenant), slog.String("method", method), slog.String("path", pbx.ClipN(path, 200)),
		slog.Int("status", resp.StatusCode), slog.Duration("took", h.cfg.Now().Sub(start)))
	return resp, nil
}

func (h *Handler) serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest, method, path string, tenant *string) (events.APIGatewayV2HTTPResponse, error) {
	t, err := tenantFrom(ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	*tenant = t

	if h.cfg.BasePath != "" {
		rest, ok := strings.CutPrefix(path, h.cfg.BasePath)
		if !ok || (rest != "" && rest[0] != '/') {
			return events.APIGatewayV2HTTPResponse{}, errorf(http.StatusNotFound, pbx.ENOTFOUND, "no such endpoint")
		}
		path = rest
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	rt, params, err := match(seg, method)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if rt == nil {
		return events.APIGatewayV2HTTPResponse{}, errorf(http.StatusNotFound, pbx.ENOTFOUND, "no such endpoint")
	}
	if err := h.spend(ctx, t, h.cfg.APIBudget, 0); err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}

	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return events.APIGatewayV2HTTPResponse{}, errorf(http.StatusBadRequest, pbx.EINVALID, "the request body is not valid base64")
		}
	}
	if int64(len(body)) > h.cfg.MaxBodyBytes {
		return events.APIGatewayV2HTTPResponse{}, errorf(http.StatusRequestEntityTooLarge, codeTooLarge,
			"the request body is larger than %d bytes; upload large files without editing them", h.cfg.MaxBodyBytes)
	}
	r := &request{tenant: t, method: method, query: map[string]string{}, header: map[string]string{}, body: body}
	for k, v := range ev.QueryStringParameters {
		r.query[k] = v
	}
	for k, v := range ev.Headers {
		r.header[strings.ToLower(k)] = v
	}
	for k, v := range params {
		r.query[":"+k] = v
	}
	out, err := rt.serve(h, ctx, r)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if raw, ok := out.(rawResponse); ok {
		return raw.response(), nil
	}
	return jsonResponse(http.StatusOK, out), nil
}

// tenantFrom reads the tenant from the authorizer's claims, and nothing
// else: not a header, not the path, not the body.
func tenantFrom(ev events.APIGatewayV2HTTPRequest) (string, error) {
	auth := ev.RequestContext.Authorizer
	if auth == nil || auth.JWT == nil {
		return "", errorf(http.StatusUnauthorized, codeUnauthorized, "sign in first")
	}
	t, ok := auth.JWT.Claims[TenantClaim]
	if !ok || t == "" {
		return "", errorf(http.StatusForbidden, codeForbidden, "your account is not assigned to a tenant")
	}
	if err := pbx.ValidateTenantName(t); err != nil {
		return "", errorf(http.StatusForbidden, codeForbidden, "your account's tenant is not valid")
	}
	return t, nil
}

// checkJobID accepts the ids ingest makes (letters, digits, '-', '_') and
// rejects anything that could address something else: '..', '/', '%'.
func checkJobID(id string) error {
	if id == "" || len(id) > 64 {
		return errorf(http.StatusBadRequest, pbx.EINVALID, "a job id is 1-64 letters, digits, '-' or '_'")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return errorf(http.StatusBadRequest, pbx.EINVALID, "a job id is 1-64 letters, digits, '-' or '_'")
		}
	}
	return nil
}

// checkExtension accepts what an extension can be (digits, at most 12) and
// nothing that could address something else.
func checkExtension(ext string) error {
	if ext == "" || len(ext) > 12 {
		return errorf(http.StatusBadRequest, pbx.EINVALID, "an extension is 1-12 digits")
	}
	for i := 0; i < len(ext); i++ {
		if ext[i] < '0' || ext[i] > '9' {
			return errorf(http.StatusBadRequest, pbx.EINVALID, "an extension is 1-12 digits")
		}
	}
	return nil
}

// errorResponse turns err into the JSON error answer. Domain errors keep
// their safe message; anything else is logged and answered generically.
func (h *Handler) errorResponse(ctx context.Context, err error, tenant, method, path string) events.APIGatewayV2HTTPResponse {
	var ae *apiError
	var pe *pbx.Error
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &pe) && pe.Code != pbx.EINTERNAL:
		ae = &apiError{status: pbx.HTTPStatus(pe.Code), code: pe.Code, field: pe.Field, message: pe.Message}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		ae = errorf(http.StatusServiceUnavailable, pbx.EINTERNAL, "the request took too long; try again")
	default:
		h.log.LogAttrs(ctx, slog.LevelError, "portal request failed",
			slog.String("tenant", tenant), slog.String("method", method), slog.String("path", pbx.ClipN(path, 200)), slog.Any("err", err))
		ae = errorf(http.StatusInternalServerError, pbx.EINTERNAL, "something went wrong on our side; try again")
	}
	type body struct {
		Code    string `json:"code"`
		Field   string `json:"field,omitempty"`
		Message string `json:"message"`
	}
	resp := jsonResponse(ae.status, map[string]body{"error": {ae.code, ae.field, ae.message}})
	if ae.retryAfter > 0 {
		resp.Headers["Retry-After"] = retryAfterHeader(ae.retryAfter)
	}
	if ae.allow != "" {
		resp.Headers["Allow"] = ae.allow
	}
	if ae.status == http.StatusUnauthorized {
		resp.Headers["WWW-Authenticate"] = "Bearer"
	}
	return resp
}

func baseHeaders(contentType string) map[string]string {
	return map[string]string{
		"Content-Type":           contentType,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
}

func jsonResponse(status int, v any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(v)
	if err != nil {
		// Our own response types always marshal; this is a bug.
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"response encoding failed"}}`)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: baseHeaders("application/json"), Body: string(b)}
}

// rawResponse is a non-JSON answer (the CSV template).
type rawResponse struct {
	contentType string
	filename    string
	body        string
}

func (r rawResponse) response() events.APIGatewayV2HTTPResponse {
	hdr := baseHeaders(r.contentType)
	if r.filename != "" {
		hdr["Content-Disposition"] = `attachment; filename="` + r.filename + `"`
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: hdr, Body: r.body}
}

// decodeJSON decodes exactly one JSON object into v, refusing unknown
// fields and trailing data.
func decodeJSON(r *request, v any) error {
	if ct := mediaType(r.header["content-type"]); ct != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(strings.NewReader(string(r.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, pbx.EINVALID, "the request body is not valid JSON for this endpoint: %s", pbx.ClipN(err.Error(), 160))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(http.StatusBadRequest, pbx.EINVALID, "the request body has data after the JSON object")
	}
	return nil
}

func mediaType(ct string) string {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(ct))
}
