package main

// The tenant boundary of the deployed stack (issue #17): a per-tenant API
// budget the portal function keeps in the table, a Content-Security-Policy
// and security headers on the portal page, and a KMS key policy that binds
// a tenant-scoped caller to its own tenant's encryption context.

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"
)

// allowTenantBudgets lets the portal function count each tenant's requests
// (store.Spend: one UpdateItem on TENANT#<t> BUDGET#… items) and nothing
// else: only tenant partitions, only the counter attributes.
func allowTenantBudgets(f *goFunction, tableArn string) {
	f.allow("SpendTenantBudgets", []string{"dynamodb:UpdateItem"}, []string{tableArn}, map[string]any{
		"ForAllValues:StringLike":   map[string]any{"dynamodb:LeadingKeys": []string{"TENANT#*"}},
		"ForAllValues:StringEquals": map[string]any{"dynamodb:Attributes": []string{"PK", "SK", "Requests", "Rows", "ExpiresAt"}},
	})
}

// portalCSP is the page's Content-Security-Policy: everything from the page
// itself, API calls to HTTP APIs of the stack's region and to the Cognito
// domain (token endpoint), no framing, no plugins, no inline script (the
// local server sends the same policy with 'self' for the API). The API is
// named by its region's domain, not its id: the API's CORS names the
// distribution, so naming the API here would be a dependency cycle.
// style-src-attr allows inline style attributes only, for the welcome
// email preview (an iframe that inherits the policy; emails style inline).
func portalCSP(region, signInURL string) string {
	api := "https://*.execute-api." + region + ".amazonaws.com"
	return "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; " +
		"connect-src 'self' " + api + " " + signInURL + "; frame-ancestors 'none'; base-uri 'none'; " +
		"form-action 'self' " + signInURL + "; object-src 'none'"
}

// addPortalSecurityHeaders gives the portal's distribution a response
// headers policy with the CSP and the usual security headers, replacing
// the managed SECURITY_HEADERS policy (which has no CSP). It is set through
// the L1 because the CSP names the Cognito domain, created after the
// distribution.
func addPortalSecurityHeaders(stack awscdk.Stack, stage string, cdn awscloudfront.Distribution, signInURL string) awscloudfront.ResponseHeadersPolicy {
	override := jsii.Bool(true)
	policy := awscloudfront.NewResponseHeadersPolicy(stack, jsii.String("PortalSecurityHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		ResponseHeadersPolicyName: jsii.String("bulkprov-" + stage + "-portal-security"),
		Comment:                   jsii.String("bulkprov " + stage + " portal: CSP and security headers"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
				ContentSecurityPolicy: jsii.String(portalCSP(*stack.Region(), signInURL)), Override: override,
			},
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: override},
			FrameOptions:       &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: override},
			ReferrerPolicy:     &awscloudfront.ResponseHeadersReferrerPolicy{ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: override},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(365)), IncludeSubdomains: jsii.Bool(true), Override: override,
			},
			XssProtection: &awscloudfront.ResponseHeadersXSSProtection{Protection: jsii.Bool(true), ModeBlock: jsii.Bool(true), Override: override},
		},
	})
	cfn := cdn.Node().DefaultChild().(awscloudfront.CfnDistribution)
	cfn.AddPropertyOverride(jsii.String("DistributionConfig.DefaultCacheBehavior.ResponseHeadersPolicyId"), policy.ResponseHeadersPolicyId())
	return policy
}

// bindKeyToCallerTenant adds a key policy statement: a caller tagged with a
// tenant (a role or session with the principal tag `tenant`, e.g. a
// per-tenant PBX role) may use the key only with its own tenant in the
// encryption context. The pipeline's functions serve every tenant and carry
// no such tag; their IAM still requires a `tenant` context key.
func bindKeyToCallerTenant(key awskms.Key) {
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("TenantScopedCallersUseOwnTenant"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{
			"Null":            map[string]any{"aws:PrincipalTag/tenant": "false"},
			"StringNotEquals": map[string]any{"kms:EncryptionContext:tenant": "${aws:PrincipalTag/tenant}"},
		},
	}), jsii.Bool(false))
}
