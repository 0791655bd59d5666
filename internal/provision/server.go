package provision

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
)

// ObjectGetter is the part of *s3.Client the Server uses.
type ObjectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// CredentialChecker checks a device credential; *DeviceCredentials
// satisfies it.
type CredentialChecker interface {
	Check(ctx context.Context, path, user, password string) (bool, error)
}

// Server serves provisioning files from the private bucket to phones:
// GET /<tenant path>/<file name> with HTTP Basic auth, each device with its
// own credential (user = its MAC, password = DevicePassword). A device may
// read its own files and the tenant's bootstrap files (FileAllowed).
//
// Every refusal — wrong or missing credential, unknown tenant, unknown
// MAC, another device's or tenant's file, a malformed or traversing path —
// gets the same 401 answer, byte for byte, and nothing is fetched from the
// bucket for it: the credential check does the same work whatever the MAC
// (DeviceCredentials.Check), so existing and missing MACs answer alike.
// The CloudFront function in front of the bucket applies the same rules.
//
// The tenant path must be the tenant name (the default provisioning path):
// the tenant's key is looked up by it.
type Server struct {
	S3          ObjectGetter
	Bucket      string
	Credentials CredentialChecker
	// Host, when set, is the only Host header served (e.g.
	// "127.0.0.1:8088"): a DNS-rebinding page cannot reach the server under
	// another name.
	Host   string
	Logger *slog.Logger // nil discards
}

// requestPathRE is the only request path shape served: one folder segment
// and a vendor file name (no dot segments, no encoded characters, no
// sub-folders, no query). Matching the escaped path against an allowlist
// rejects "..", "%2e%2e", "//", backslashes and encoded slashes alike. The
// CloudFront function uses the same pattern (PATH in provisioning-auth.js).
var requestPathRE = regexp.MustCompile(`^/([a-z0-9][a-z0-9-]{0,62})/([A-Za-z0-9][A-Za-z0-9_-]{0,47}\.(?:cfg|xml|htm))$`)

var macInNameRE = regexp.MustCompile(`[0-9A-Fa-f]{12}`)

const unauthorizedBody = "401 unauthorized\n"

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if s.Host != "" && !strings.EqualFold(r.Host, s.Host) {
		log.WarnContext(r.Context(), "provisioning request for another host refused", "host", clipHost(r.Host), "remote", r.RemoteAddr)
		http.Error(w, "misdirected request", http.StatusMisdirectedRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	m := requestPathRE.FindStringSubmatch(r.URL.EscapedPath())
	pathOK := m != nil && r.URL.RawQuery == ""
	tenant, file := "", ""
	if pathOK {
		tenant, file = m[1], m[2]
	}
	mac := strings.ToLower(macInNameRE.FindString(file))

	user, password, hasAuth := r.BasicAuth()
	// Always check, also for a malformed path: the same work every time.
	credOK, err := s.Credentials.Check(ctx, tenant, user, password)
	if err != nil {
		log.ErrorContext(ctx, "provisioning credential check failed", "tenant", tenant, "error", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if !(hasAuth && pathOK && credOK && FileAllowed(file, user)) {
		log.InfoContext(ctx, "provisioning fetch refused", "tenant", tenant, "mac", mac, "status", http.StatusUnauthorized,
			"path_ok", pathOK, "remote", r.RemoteAddr)
		deny(w)
		return
	}
	s.serveFile(w, r, log, tenant, file, mac)
}

// serveFile sends an authorized request its file from the bucket; a
// missing file is refused like a wrong credential.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, log *slog.Logger, tenant, file, mac string) {
	ctx := r.Context()
	key := jobfiles.ProvisioningKey(tenant, file)
	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	switch {
	case isNoSuchKey(err):
		log.InfoContext(ctx, "provisioning file missing", "tenant", tenant, "mac", mac, "file", file, "status", http.StatusUnauthorized)
		deny(w)
		return
	case err != nil:
		log.ErrorContext(ctx, "provisioning fetch failed", "tenant", tenant, "mac", mac, "error", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	defer out.Body.Close()
	h := w.Header()
	h.Set("Content-Type", contentTypeOf(out.ContentType, file))
	h.Set("Cache-Control", "no-store")
	if out.ContentLength != nil {
		h.Set("Content-Length", strconv.FormatInt(*out.ContentLength, 10))
	}
	w.WriteHeader(http.StatusOK)
	n, err := io.Copy(w, out.Body)
	log.InfoContext(ctx, "provisioning fetch", "tenant", tenant, "mac", mac, "file", file, "status", http.StatusOK,
		"bytes", n, "remote", r.RemoteAddr)
	if err != nil {
		log.WarnContext(ctx, "provisioning fetch interrupted", "tenant", tenant, "mac", mac, "error", err)
	}
}

func clipHost(h string) string {
	if len(h) > 64 {
		return h[:64]
	}
	return h
}

// deny writes the one refusal answer.
func deny(w http.ResponseWriter) {
	h := w.Header()
	h.Set("WWW-Authenticate", `Basic realm="bulkprov provisioning", charset="UTF-8"`)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(unauthorizedBody)))
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, unauthorizedBody)
}

func contentTypeOf(stored *string, file string) string {
	if stored != nil && *stored != "" {
		return *stored
	}
	if path.Ext(file) == ".xml" {
		return "application/xml"
	}
	return "text/plain; charset=utf-8"
}

func isNoSuchKey(err error) bool {
	var nsk *s3types.NoSuchKey
	var nf *s3types.NotFound
	return errors.As(err, &nsk) || errors.As(err, &nf)
}
