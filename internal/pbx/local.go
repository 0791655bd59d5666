package pbx

import "fmt"

// LocalTenantOverrides are the tenant settings `bulkprov run` seeds for its
// tenant, and that `bulkprov validate` assumes when it has no stored data:
// device provisioning enabled with a default phone model, invite-mode welcome.
func LocalTenantOverrides(tenant string) []byte {
	return fmt.Appendf(nil, `{
  "tenant_display_name": %q,
  "provisioning": {
    "enabled": true,
    "default_phone_model": "yealink-t54w",
    "registrar": "sip.%s.pbx.example",
    "proxy": "sip.%s.pbx.example",
    "time_zone": "America/Los_Angeles",
    "language": "en-US"
  },
  "email": {
    "from": "PBX Onboarding <onboarding@pbx.example>",
    "configuration_set": "bulkprov-local",
    "portal_url": "https://portal.pbx.example"
  },
  "upload": {"welcome": "invite"}
}`, tenant, tenant, tenant)
}
