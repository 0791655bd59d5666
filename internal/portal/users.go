package portal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/export"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/store"
)

// UserLister lists a tenant's users; *store.Store satisfies it.
type UserLister interface {
	ListUsers(ctx context.Context, tenant string) ([]store.UserRecord, error)
}

// ObjectWriter writes objects; *s3.Client satisfies it.
type ObjectWriter interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// UsersLink is GET /users' answer: a presigned GET of the tenant's users
// as a CSV in the upload template's columns (export.WriteCSV), written to
// the tenant's folder of the jobs bucket: a tenant of 100,000 users is
// more than an API response may carry.
type UsersLink struct {
	URL       string    `json:"url"`
	Name      string    `json:"name"`
	Users     int       `json:"users"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (h *Handler) usersDownload(ctx context.Context, r *request) (any, error) {
	if h.deps.Users == nil || h.deps.Files == nil {
		return nil, errorf(http.StatusNotImplemented, codeNotAvailable, "the users download is not available on this server")
	}
	users, err := h.deps.Users.ListUsers(ctx, r.tenant)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := export.WriteCSV(&b, users); err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	now := h.cfg.Now().UTC()
	name := "users-" + r.tenant + "-" + now.Format("20060102T150405Z") + ".csv"
	key := jobfiles.TenantJobsPrefix(r.tenant) + "exports/" + now.Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix) + ".csv"
	if _, err := h.deps.Files.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(h.cfg.JobsBucket), Key: aws.String(key), Body: bytes.NewReader(b.Bytes()),
		ContentType: aws.String("text/csv; charset=utf-8"), ContentLength: aws.Int64(int64(b.Len())),
	}); err != nil {
		return nil, err
	}
	signed, err := h.deps.Presigner.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(h.cfg.JobsBucket), Key: aws.String(key),
		ResponseContentDisposition: aws.String(`attachment; filename="` + name + `"`),
		ResponseContentType:        aws.String("text/csv; charset=utf-8"),
	}, s3.WithPresignExpires(h.cfg.PresignTTL))
	if err != nil {
		return nil, err
	}
	h.log.InfoContext(ctx, "users exported", "tenant", r.tenant, "users", len(users))
	return UsersLink{URL: signed.URL, Name: name, Users: len(users), ExpiresAt: now.Add(h.cfg.PresignTTL)}, nil
}
