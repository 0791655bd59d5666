package main

import (
	"strings"
	"testing"
)

// testTenantBoundary (issue #17): the portal page is served with a CSP and
// security headers; the KMS key binds tenant-scoped callers to their own
// tenant's encryption context.
func testTenantBoundary(t *testing.T, s *synthesized) {
	t.Run("tenant boundary", func(t *testing.T) {
		policyID, policy := s.resource(t, "AWS::CloudFront::ResponseHeadersPolicy", "PortalSecurityHeaders")
		cfg := jsonString(props(policy)["ResponseHeadersPolicyConfig"])
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
			`"FrameOption":"DENY"`, `"ReferrerPolicy":"no-referrer"`, `"AccessControlMaxAgeSec":31536000`, "https://*.execute-api.", "PortalUsersPortalSignIn"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("portal response headers policy lacks %s: %s", want, cfg)
			}
		}
		_, dist := s.resource(t, "AWS::CloudFront::Distribution", "PortalDistribution")
		behavior := jsonString(props(dist)["DistributionConfig"].(map[string]any)["DefaultCacheBehavior"])
		if !strings.Contains(behavior, `"ResponseHeadersPolicyId":{"Ref":"`+policyID+`"}`) {
			t.Errorf("portal distribution's default behavior does not use %s: %s", policyID, behavior)
		}

		_, key := s.resource(t, "AWS::KMS::Key", "SipSecretsKey")
		keyPolicy := jsonString(props(key)["KeyPolicy"])
		for _, want := range []string{`"Sid":"TenantScopedCallersUseOwnTenant"`, `"Effect":"Deny"`,
			`"Null":{"aws:PrincipalTag/tenant":"false"}`, `"StringNotEquals":{"kms:EncryptionContext:tenant":"${aws:PrincipalTag/tenant}"}`} {
			if !strings.Contains(keyPolicy, want) {
				t.Errorf("key policy lacks %s: %s", want, keyPolicy)
			}
		}
	})
}
