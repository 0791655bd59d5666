package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// Context keys of the softswitch read path (-c key=value, or per stage in
// cdk.json's "bulkprov:stages".<stage>).
const (
	ctxSIPLookupTokenHashes = "sipLookupTokenSha256" // comma-separated hex SHA-256 of accepted bearer tokens
	ctxSIPRealms            = "sipRealms"            // optional platform-wide digest realms, comma-separated
)

// softswitchFunctionNames are the functions addSoftswitchLookup deploys
// (built by the Makefile like the others).
func softswitchFunctionNames() []string { return []string{"sip-lookup"} }

// sipLookup is the deployed softswitch read path.
type sipLookup struct {
	Fn  *goFunction
	URL awslambda.FunctionUrl
}

var tokenHashListRE = regexp.MustCompile(`^[0-9a-f]{64}(,[0-9a-f]{64})*$`)

var realmListRE = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]{1,253}(,[A-Za-z0-9.:\[\]-]{1,253})*$`)

// addSoftswitchLookup deploys the SIP lookup API (internal/softswitch):
// one function behind a function URL that a softswitch calls per request.
// Why a function URL with a bearer token: Kamailio's http_client sends a
// static header but cannot SigV4-sign, so IAM auth is out; the token is
// checked in constant time against SHA-256 hashes in the function's
// environment (not secrets: a 256-bit token's hash can't be reversed), and
// no API Gateway hop is added to every registration. The role reads only
// the tenant, DID-owner and SYSTEM partitions of the table and decrypts only
// with a tenant in the encryption context.
func addSoftswitchLookup(stack awscdk.Stack, d functionDefaults, table awsdynamodb.Table, key awskms.Key,
	tenantContext map[string]any) (*sipLookup, error) {
	hashes := strings.ToLower(contextString(stack, d.Stage, ctxSIPLookupTokenHashes))
	if hashes != "" && !tokenHashListRE.MatchString(hashes) {
		return nil, fmt.Errorf("context %s: want comma-separated hex SHA-256 hashes of the tokens (printf %%s \"$TOKEN\" | sha256sum), got %q", ctxSIPLookupTokenHashes, hashes)
	}
	realms := contextString(stack, d.Stage, ctxSIPRealms)
	if realms != "" && !realmListRE.MatchString(realms) {
		return nil, fmt.Errorf("context %s: %q is not a comma-separated list of host names", ctxSIPRealms, realms)
	}
	fn := newGoFunction(stack, "SipLookup", d, functionSpec{
		Name: "sip-lookup", Description: "Softswitch read path: HA1, extension and DID lookups for SIP servers",
		MemoryMiB: 256, TimeoutSec: 5,
		Env: map[string]*string{
			"TABLE_NAME":              table.TableName(),
			"KMS_KEY_ID":              key.KeyArn(),
			"SIP_LOOKUP_TOKEN_SHA256": jsii.String(hashes),
			"SIP_REALMS":              jsii.String(realms),
		},
	})
	fn.allow("TableRead", []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}, []string{*table.TableArn()},
		map[string]any{"ForAllValues:StringLike": map[string]any{
			"dynamodb:LeadingKeys": []string{"TENANT#*", "DID#*", "SYSTEM"},
		}})
	fn.allow("OpenSIPSecrets", []string{"kms:Decrypt"}, []string{*key.KeyArn()}, tenantContext)
	url := fn.Function.AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_NONE,
		InvokeMode: awslambda.InvokeMode_BUFFERED,
	})
	awscdk.NewCfnOutput(stack, jsii.String("SipLookupUrl"), &awscdk.CfnOutputProps{
		Value:       url.Url(),
		Description: jsii.String("Softswitch read path: GET <this>v1/sip/{auth,extension,did} with Authorization: Bearer <token> (README: Wiring a softswitch)"),
	})
	return &sipLookup{Fn: fn, URL: url}, nil
}

// contextString reads a string context value: -c key=value first, then
// cdk.json's "bulkprov:stages".<stage>.key.
func contextString(stack awscdk.Stack, stage, key string) string {
	if v, ok := stack.Node().TryGetContext(jsii.String(key)).(string); ok {
		return strings.TrimSpace(v)
	}
	if all, ok := stack.Node().TryGetContext(jsii.String(stagesContextKey)).(map[string]any); ok {
		if m, ok := all[stage].(map[string]any); ok {
			if v, ok := m[key].(string); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}
