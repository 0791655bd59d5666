package main

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func TestSoftswitchLookup(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	rotated := strings.Repeat("cd", 32)
	s := synth(t, "prod", map[string]any{ctxSIPLookupTokenHashes: hash + "," + rotated, ctxSIPRealms: "sip.pbx.example"})

	_, fn := s.resource(t, "AWS::Lambda::Function", "SipLookup")
	p := props(fn)
	if got := jsonString(p["FunctionName"]); got != `"bulkprov-prod-sip-lookup"` {
		t.Errorf("FunctionName %s", got)
	}
	env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	if env["SIP_LOOKUP_TOKEN_SHA256"] != hash+","+rotated || env["SIP_REALMS"] != "sip.pbx.example" {
		t.Errorf("token hashes / realms not passed: %v", env)
	}
	for _, k := range []string{"TABLE_NAME", "KMS_KEY_ID"} {
		if env[k] == nil {
			t.Errorf("env %s missing", k)
		}
	}
	if strings.Contains(jsonString(env), "Bearer") {
		t.Error("a token, not its hash, in the environment")
	}

	// Least privilege: reads of the tenant, DID-owner and SYSTEM partitions,
	// Decrypt with a tenant context, its own logs; nothing else.
	sts := s.roleStatements(t, "SipLookupRole")
	if sids, want := slices.Sorted(maps.Keys(sts)), []string{"OpenSIPSecrets", "TableRead", "WriteOwnLogs"}; !reflect.DeepEqual(sids, want) {
		t.Errorf("statements %v, want %v", sids, want)
	}
	if got := sts["TableRead"]; !reflect.DeepEqual(got.Actions, []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"}) ||
		!strings.Contains(got.Conditions, `"dynamodb:LeadingKeys":["TENANT#*","DID#*","SYSTEM"]`) || !strings.Contains(got.Resources, "Table") {
		t.Errorf("TableRead %+v", got)
	}
	if got := sts["OpenSIPSecrets"]; !reflect.DeepEqual(got.Actions, []string{"kms:Decrypt"}) ||
		!strings.Contains(got.Conditions, `"kms:EncryptionContextKeys":["tenant"]`) || !strings.Contains(got.Resources, "SipSecretsKey") {
		t.Errorf("OpenSIPSecrets %+v", got)
	}

	_, url := s.resource(t, "AWS::Lambda::Url", "SipLookup")
	if up := props(url); up["AuthType"] != "NONE" || up["InvokeMode"] != "BUFFERED" {
		t.Errorf("function URL %v: want AuthType NONE (bearer token checked by the function), BUFFERED", up)
	}
	outputs := s.JSON["Outputs"].(map[string]any)
	if _, ok := outputs["SipLookupUrl"]; !ok {
		t.Error("no SipLookupUrl output")
	}
	testNag(t, s)
}

func TestSoftswitchLookupRejectsBadContext(t *testing.T) {
	for name, ctx := range map[string]map[string]any{
		"token instead of hash": {ctxSIPLookupTokenHashes: "Zm9vYmFyYmF6cXV4cXV1eHF1dXpxdXV4cXV1eHF1dXg"},
		"short hash":            {ctxSIPLookupTokenHashes: "abcd"},
		"realm with a path":     {ctxSIPRealms: "sip.example/x"},
		"hash in the stage map": {"stage": "dev"},
	} {
		t.Run(name, func(t *testing.T) {
			c := cdkContext(t)
			for k, v := range ctx {
				c[k] = v
			}
			if name == "hash in the stage map" { // read from cdk.json's stage map too
				c[stagesContextKey].(map[string]any)["dev"].(map[string]any)[ctxSIPLookupTokenHashes] = "not-a-hash"
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &c, Outdir: jsii.String(t.TempDir())})
			cfg, err := stageConfigFromContext(app.Node())
			if err != nil {
				t.Fatal(err)
			}
			root, err := projectRoot()
			if err != nil {
				t.Fatal(err)
			}
			paths := defaultPaths(root)
			paths.LambdaAssetDir = dummyAssets(t)
			_, err = NewBulkprovStack(app, "Bulkprov-dev", &StackProps{Config: cfg, Paths: paths})
			if err == nil || !strings.Contains(err.Error(), "context sip") {
				t.Fatalf("err = %v, want a context error", err)
			}
		})
	}
}
