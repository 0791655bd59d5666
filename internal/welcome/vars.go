package welcome

import (
	"net/url"
	"strings"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// phoneConfiguredSentence stands in for PHONE_PASSWORD when the SIP secret
// is withheld.
//
// Decision: the SIP secret is NOT emailed when the row has a provisioned
// desk phone (RowResult.ProvisioningFile set): the phone fetches it from its
// configuration file, and a secret that is never emailed cannot leak from a
// mailbox. settings.Email.IncludeSIPSecret forces it in (e.g. for users who
// also run a softphone). A row without a provisioned phone gets the secret:
// the user has to enter it in whatever phone they use.
const phoneConfiguredSentence = "not needed, your desk phone is configured automatically"

// Secrets are one user's opened credentials.
type Secrets struct {
	Portal     string          // invite token or temporary password
	PortalKind pbx.WelcomeMode // invite | password: what Portal holds
	SIPSecret  string
	PIN        string
}

// BuildVars assembles a row's template variables from the tenant's
// settings, the row's records and its opened secrets.
func BuildVars(s pbx.Settings, tenant string, row events.RowResult, sec Secrets) (Vars, error) {
	v := Vars{
		TenantName:       s.TenantDisplayName,
		Name:             row.Name,
		Email:            row.Email,
		Extension:        row.Extension,
		DID:              row.DID,
		WebUserName:      row.User,
		InviteValidHours: s.Email.InviteTTLHours,
		PortalURL:        s.Email.PortalURL,
		PhoneUserName:    row.SIPUser,
		PhonePassword:    sec.SIPSecret,
		PhoneProvisioned: row.ProvisioningFile != "",
		VMPIN:            sec.PIN,
	}
	if v.TenantName == "" {
		v.TenantName = tenant
	}
	if v.Name == "" {
		v.Name = row.User
	}
	if v.PhoneProvisioned && !s.Email.IncludeSIPSecret {
		v.PhonePassword = phoneConfiguredSentence
	}
	switch sec.PortalKind {
	case pbx.WelcomeInvite, pbx.WelcomeNone:
		base, err := portalBase(s.Email.PortalURL)
		if err != nil {
			return Vars{}, err
		}
		v.InviteURL = base + "/invite/" + url.PathEscape(sec.Portal)
	case pbx.WelcomePassword:
		v.WebPassword = sec.Portal
	default:
		return Vars{}, pbx.Errorf(pbx.EINVALID, "portal_kind", "unknown portal credential kind %q", sec.PortalKind)
	}
	return v, nil
}

// portalBase checks settings.Email.PortalURL, which invite links start with.
func portalBase(portal string) (string, error) {
	u, err := url.Parse(portal)
	if portal == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", pbx.Errorf(pbx.EINVALID, "email.portal_url", "must be an absolute http(s) URL for invite links, not %q", pbx.ClipN(portal, 60))
	}
	return strings.TrimRight(portal, "/"), nil
}
