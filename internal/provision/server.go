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
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// ObjectGetter is the part of *s3.Client the Server uses.
type ObjectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// CredentialLookup returns a tenant's provisioning credential hash (the
// store.HashProvisioningCredential format); *store.Store satisfies it.
type CredentialLookup interface {
	ProvisioningCredential(ctx context.Context, tenant string) (string, error)
}

// Server serves provisioning files from the private bucket to phones:
// GET /<tenant path>/<file name> with HTTP Basic auth, user = the tenant's
// provisioning path, password = its provisioning credential.
//
// Every refusal — wrong or missing credential, unknown tenant, unknown
// MAC, another tenant's file, a malformed or traversing path — gets the
// same 401 answer, byte for byte, after the same work (one credential
// lookup when the user name is well-formed, one constant-time hash compare,
// one S3 GetObject), so that neither MACs nor tenants can be enumerated.
// The CloudFront Function in front of the bucket applies the same rule.
//
// The tenant path must be a tenant name (the default provisioning path):
// the credential is looked up by it.
type Server struct {
	S3          ObjectGetter
	Bucket      string
	Credentials CredentialLookup
	Logger      *slog.Logger // nil discards
}

// requestPathRE is the only request path shape served: a tenant segment
// and a vendor file name. Matching the escaped path against an allowlist
// rejects "..", "%2e%2e", "//", backslashes and encoded slashes alike.
var requestPathRE = regexp.MustCompile(`^/([a-z0-9]{1,32})/([A-Za-z0-9][A-Za-z0-9_-]{0,47}\.(?:cfg|xml))$`)

var macInNameRE = regexp.MustCompile(`[0-9A-Fa-f]{12}`)

// deniedKey is fetched instead of a real key when the path is malformed,
// so that a refused request costs the same S3 round trip. The tenant
// segment "-" cannot be a tenant name, so it never exists.
const deniedKey = "-/denied"

const unauthorizedBody = "401 unauthorized\n"

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ctx := r.Context()
	m := requestPathRE.FindStringSubmatch(r.URL.EscapedPath())
	pathOK := m != nil && r.URL.RawQuery == ""
	tenant, file, key := "", "", deniedKey
	if pathOK {
		tenant, file = m[1], m[2]
		key = jobfiles.ProvisioningKey(tenant, file)
	}
	mac := strings.ToLower(macInNameRE.FindString(file))

	user, password, hasAuth := r.BasicAuth()
	hash := ""
	if requestUserRE.MatchString(user) {
		h, err := s.Credentials.ProvisioningCredential(ctx, user)
		switch {
		case err == nil:
			hash = h
		case !isNotFound(err):
			log.ErrorContext(ctx, "provisioning credential lookup failed", "tenant", tenant, "error", err)
		}
	}
	// Always hash and compare, also with no tenant and no credential.
	credOK := store.ProvisioningCredentialMatches(hash, password)
	authorized := hasAuth && pathOK && credOK && user == tenant

	out, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err == nil && !authorized {
		_ = out.Body.Close()
	}
	switch {
	case !authorized || isNoSuchKey(err):
		log.InfoContext(ctx, "provisioning fetch refused", "tenant", tenant, "mac", mac, "status", http.StatusUnauthorized,
			"path_ok", pathOK, "remote", r.RemoteAddr)
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

// requestUserRE is a well-formed tenant name; other user names are not
// looked up (nothing to find) but still hashed and compared.
var requestUserRE = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

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

// isNotFound reports a tenant without a credential (pbx ENOTFOUND).
func isNotFound(err error) bool { return pbx.ErrorCode(err) == pbx.ENOTFOUND }
