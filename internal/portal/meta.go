package portal

import (
	"bytes"
	"context"
	"net/http"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Me is GET /me's answer: who the caller acts for and what the page needs
// to start (columns, option defaults, limits).
type Me struct {
	Tenant      string      `json:"tenant"`
	DisplayName string      `json:"display_name,omitempty"`
	Columns     []string    `json:"columns"`
	Defaults    pbx.Options `json:"defaults"`
	Limits      Limits      `json:"limits"`
	// JobStatuses are every job status with its label and whether it is
	// final: the page's one source (package jobmodel).
	JobStatuses []jobmodel.StatusInfo `json:"job_statuses"`
}

// Limits bound what the page sends.
type Limits struct {
	MaxBodyBytes   int64 `json:"max_body_bytes"`   // POST /validate; larger files are uploaded without editing
	MaxObjectBytes int64 `json:"max_object_bytes"` // an upload
	MaxRows        int   `json:"max_rows"`
}

func (h *Handler) me(ctx context.Context, r *request) (any, error) {
	s, err := h.deps.Settings.LoadSettings(ctx, r.tenant)
	if err != nil {
		if pbx.ErrorCode(err) == pbx.ENOTFOUND {
			return nil, errorf(http.StatusForbidden, codeForbidden, "your tenant is not set up yet")
		}
		return nil, err
	}
	return Me{
		Tenant: r.tenant, DisplayName: s.TenantDisplayName, Columns: csvin.CanonicalHeader(),
		Defaults:    s.Upload,
		Limits:      Limits{MaxBodyBytes: h.cfg.MaxBodyBytes, MaxObjectBytes: s.MaxObjectBytes, MaxRows: s.MaxRows},
		JobStatuses: jobmodel.Statuses(),
	}, nil
}

// template answers the canonical CSV header with two example rows.
func (h *Handler) template(context.Context, *request) (any, error) {
	var b bytes.Buffer
	if err := csvin.WriteTemplate(&b); err != nil {
		return nil, err
	}
	return rawResponse{contentType: "text/csv; charset=utf-8", filename: "bulkprov-template.csv", body: b.String()}, nil
}
