// Package tenants saves a tenant's settings after checking everything that
// can be checked when they are saved rather than when a job needs them: the
// merge with the system defaults, and the welcome email overrides (an
// unknown template variable fails here, not at send time).
package tenants

import (
	"context"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones are checked by name wherever this runs (Lambda images have no zoneinfo)

	"golang.org/x/text/language"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
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
	if err := checkPhones(s.Provisioning); err != nil {
		return pbx.Settings{}, err
	}
	if err := welcome.ValidateOverrides(s.Email); err != nil {
		return pbx.Settings{}, err
	}
	return s, nil
}

// checkPhones checks the phone settings a tenant edits against what the
// provisioning files can express: a supported model, an IANA time zone and
// a BCP 47 language tag.
func checkPhones(p pbx.Provisioning) error {
	if p.DefaultPhoneModel != "" && !provision.KnownModel(p.DefaultPhoneModel) {
		return pbx.Errorf(pbx.EINVALID, "provisioning.default_phone_model", "%q is not a supported phone model; supported: %s",
			p.DefaultPhoneModel, strings.Join(provision.Models(), ", "))
	}
	if p.TimeZone != "" {
		if _, err := time.LoadLocation(p.TimeZone); err != nil || p.TimeZone == "Local" {
			return pbx.Errorf(pbx.EINVALID, "provisioning.time_zone", "%q is not an IANA time zone such as Europe/Paris or America/New_York", p.TimeZone)
		}
	}
	if p.Language != "" {
		if _, err := language.Parse(p.Language); err != nil || len(p.Language) > 35 {
			return pbx.Errorf(pbx.EINVALID, "provisioning.language", "%q is not a language tag such as en-US or fr-FR", p.Language)
		}
	}
	return nil
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
