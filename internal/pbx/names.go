package pbx

import (
	"regexp"
)

var tenantNameRE = regexp.MustCompile(`^[a-z0-9]{1,32}$`)

// Tenant is one customer of the hosted PBX. Its name is part of every
// generated user name, so the PBX restricts it to lowercase letters and
// digits (no dashes: the dash separates tenant and extension).
type Tenant struct {
	Name        string `json:"name" dynamodbav:"name"`
	DisplayName string `json:"display_name" dynamodbav:"display_name"`
}

// Validate checks the tenant's name.
func (t Tenant) Validate() error { return ValidateTenantName(t.Name) }

// ValidateTenantName reports whether name is a valid tenant name.
func ValidateTenantName(name string) error {
	if !tenantNameRE.MatchString(name) {
		return Errorf(EINVALID, "tenant", "tenant name %q must be 1-32 lowercase letters or digits", ClipN(name, 40))
	}
	return nil
}

// PortalUserName is the user name for the web portal: the Multi Tenant
// Configuration Manager prepends the tenant ("acme-100").
func PortalUserName(tenant, extension string) string { return tenant + "-" + extension }

// SIPUserName is the endpoint's SIP user name: the tenant is appended
// ("100-acme").
func SIPUserName(extension, tenant string) string { return extension + "-" + tenant }
