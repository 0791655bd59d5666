package portal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// UploadRequest is POST /uploads' body.
type UploadRequest struct {
	Name    string        `json:"name"` // the file's name as the admin knows it
	Size    int64         `json:"size"` // bytes the browser will PUT
	Options UploadOptions `json:"options"`
}

// UploadResponse tells the browser how to PUT the CSV: to URL, with
// Method, sending exactly Headers (they are signed).
type UploadResponse struct {
	Key       string            `json:"key"`
	Name      string            `json:"name"`
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	ExpiresAt time.Time         `json:"expires_at"`
}

const maxNameLen = 60

// createUpload presigns a PUT of a new CSV into the tenant's upload prefix,
// with the options as object metadata; the S3 event then runs ingest, as
// for any other upload.
func (h *Handler) createUpload(ctx context.Context, r *request) (any, error) {
	var req UploadRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	base, err := uploadBaseName(req.Name)
	if err != nil {
		return nil, err
	}
	meta := req.Options.Metadata()
	override, err := pbx.ParseUploadOptions(meta)
	if err != nil {
		return nil, err
	}
	settings, err := h.deps.Settings.LoadSettings(ctx, r.tenant, override)
	if err != nil {
		if pbx.ErrorCode(err) == pbx.ENOTFOUND {
			return nil, errorf(http.StatusForbidden, codeForbidden, "your tenant is not set up yet")
		}
		return nil, err
	}
	switch {
	case req.Size <= 0:
		return nil, &apiError{status: http.StatusBadRequest, code: pbx.EINVALID, field: "size", message: "give the file's size in bytes"}
	case req.Size > settings.MaxObjectBytes:
		return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: pbx.CodeFileTooLarge, field: "size",
			message: "the file is larger than the " + byteSize(settings.MaxObjectBytes) + " an upload may have"}
	}

	now := h.cfg.Now().UTC()
	name, err := uploadObjectName(base, now)
	if err != nil {
		return nil, err
	}
	key := jobfiles.UploadPrefix(r.tenant) + name

	signed, err := h.deps.Presigner.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(h.cfg.UploadsBucket),
		Key:           aws.String(key),
		ContentType:   aws.String("text/csv"),
		ContentLength: aws.Int64(req.Size), // signed: S3 refuses another size
		Metadata:      meta,
	}, s3.WithPresignExpires(h.cfg.PresignTTL))
	if err != nil {
		return nil, err
	}
	return UploadResponse{
		Key: key, Name: name, URL: signed.URL, Method: signed.Method, Headers: browserHeaders(signed.SignedHeader),
		ExpiresAt: now.Add(h.cfg.PresignTTL),
	}, nil
}

// uploadObjectName names the upload's object: the admin's base name, the
// time and a random suffix, so that two uploads never share a key.
func uploadObjectName(base string, now time.Time) (string, error) {
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	return base + "-" + now.Format("20060102T150405Z") + "-" + hex.EncodeToString(suffix) + ".csv", nil
}

// browserHeaders are the signed headers the browser must send with the
// PUT, less those it sets itself.
func browserHeaders(signed http.Header) map[string]string {
	headers := map[string]string{}
	for k, v := range signed {
		switch strings.ToLower(k) {
		case "host", "content-length": // the browser sets these itself
			continue
		}
		headers[k] = strings.Join(v, ",")
	}
	return headers
}

// uploadBaseName turns the admin's file name into the base of an object
// name. A path (with '/', '\' or '..') is refused rather than cleaned, so
// that nobody can aim at another prefix; other unusual characters become '-'.
func uploadBaseName(name string) (string, error) {
	bad := func(msg string) error {
		return &apiError{status: http.StatusBadRequest, code: pbx.CodeBadKey, field: "name", message: msg}
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", bad("give the file a name")
	case len(name) > 255:
		return "", bad("the file name is longer than 255 bytes")
	case strings.ContainsAny(name, `/\`) || strings.Contains(name, ".."):
		return "", bad("the file name must be a plain name, not a path")
	}
	if ext := strings.LastIndexByte(name, '.'); ext > 0 && strings.EqualFold(name[ext:], ".csv") {
		name = name[:ext]
	}
	var b strings.Builder
	dash := false
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
		switch {
		case ok:
			b.WriteRune(c)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= maxNameLen {
			break
		}
	}
	out := strings.Trim(b.String(), "-.")
	if out == "" {
		out = "upload"
	}
	return out, nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
