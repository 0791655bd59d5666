package records

import (
	"context"
	"fmt"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// tenantBoundary applies the operator's DID rules to a prepared batch, right
// before it is written: create-dids takes free inventory numbers only where
// the operator lets this tenant (the upload option alone cannot), and a
// caller ID must be one of the tenant's DIDs (or the row's own) or a number
// the operator allowed. Ingest checked the same; this closes the gap to a
// number released meanwhile. It returns whether rows may claim free numbers.
func (h *Handler) tenantBoundary(ctx context.Context, tenant string, s pbx.Settings, objects []pbx.RowObjects, rows []events.RowResult) (bool, error) {
	var numbers []string
	for i, o := range objects {
		if rows[i].Status == events.StatusFailed {
			continue
		}
		if o.DID != nil {
			numbers = append(numbers, o.DID.Number)
		}
		if n := externalCallerID(o); n != "" {
			numbers = append(numbers, n)
		}
	}
	if len(numbers) == 0 {
		return false, nil
	}
	td, err := h.Store.LookupTenantData(ctx, tenant, nil, numbers, nil)
	if err != nil {
		return false, fmt.Errorf("DID rules of tenant %s: %w", tenant, err)
	}
	claim := s.Upload.CreateDIDs && td.ClaimFree
	for i, o := range objects {
		n := externalCallerID(o)
		if rows[i].Status == events.StatusFailed || n == "" || td.OwnedDIDs[n] || td.AllowedCallerIDs[n] {
			continue
		}
		r := &rows[i]
		r.Status, r.Code = events.StatusFailed, pbx.CodeCallerIDNotAllowed
		r.Message = "caller ID " + n + " is not one of this tenant's numbers; use one of its DIDs or a number the operator allowed"
	}
	return claim, nil
}

// externalCallerID is the endpoint's caller ID number when it is neither
// the extension nor the row's own DID, "" otherwise.
func externalCallerID(o pbx.RowObjects) string {
	n := o.Endpoint.CallerIDNum
	if n == "" || n == o.Ext.Number || o.DID != nil && n == o.DID.Number {
		return ""
	}
	return n
}
