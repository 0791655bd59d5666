// Package tenants saves a tenant's settings after checking everything that
// can be checked when they are saved rather than when a job needs them: the
// merge with the system defaults, and the welcome email overrides (an
// unknown template variable fails here, not at send time).
package tenants

import (
	"context"
	"fmt"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// Store is the part of *store.Store saving uses. PutTenant merges the
// overrides with the stored system overrides and refuses invalid results.
type Store interface {
	PutTenant(ctx context.Context, t pbx.Tenant, overrides []byte) error
}

// Check merges overrides over the system defaults and validates the result,
// including the welcome email templates.
func Check(overrides []byte) (pbx.Settings, error) {
	s, err := pbx.Merge(pbx.SystemDefaults(), overrides)
	if err != nil {
		return pbx.Settings{}, err
	}
	if err := welcome.ValidateOverrides(s.Email); err != nil {
		return pbx.Settings{}, err
	}
	return s, nil
}

// Save checks and stores a tenant's settings overrides (a JSON object with
// any subset of pbx.Settings' fields).
func Save(ctx context.Context, st Store, t pbx.Tenant, overrides []byte) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if _, err := Check(overrides); err != nil {
		return fmt.Errorf("tenant %s settings: %w", t.Name, err)
	}
	return st.PutTenant(ctx, t, overrides)
}
