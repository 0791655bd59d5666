package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
)

// testPortalSignIn checks the Cognito hosted UI setup the page relies on
// (web/portal/README.md): code grant + PKCE, openid/email, redirect to the
// portal root, and an authorizer that accepts the client's ID tokens.
func testPortalSignIn(t *testing.T, s *synthesized) {
	t.Run("portal sign-in", func(t *testing.T) {
		clientID, client := s.resource(t, "AWS::Cognito::UserPoolClient", "PortalUsersPortalClient")
		cp := props(client)
		portalRoot := portalRootJoin(t, s)
		exact := map[string]string{
			"AllowedOAuthFlows":               `["code"]`,
			"AllowedOAuthFlowsUserPoolClient": `true`,
			"SupportedIdentityProviders":      `["COGNITO"]`,
			"GenerateSecret":                  `false`,
			"CallbackURLs":                    `[` + portalRoot + `]`,
			"LogoutURLs":                      `[` + portalRoot + `]`,
		}
		for k, want := range exact {
			if got := jsonString(cp[k]); got != want {
				t.Errorf("client %s = %s, want %s", k, got, want)
			}
		}
		if got, want := sortedStrings(cp["AllowedOAuthScopes"]), []string{"email", "openid"}; !reflect.DeepEqual(got, want) {
			t.Errorf("client scopes %v, want exactly %v", got, want)
		}

		_, auth := s.resource(t, "AWS::ApiGatewayV2::Authorizer", "PortalHttpApiPortalAuthorizer")
		jwt := props(auth)["JwtConfiguration"].(map[string]any)
		// ID tokens carry the client id as aud (access tokens have none).
		if got := jsonString(jwt["Audience"]); got != `[{"Ref":"`+clientID+`"}]` {
			t.Errorf("authorizer audience %s, want only the portal client id", got)
		}
		if got := jsonString(props(auth)["IdentitySource"]); got != `["$request.header.Authorization"]` {
			t.Errorf("authorizer identity source %s", got)
		}

		poolID, _ := s.resource(t, "AWS::Cognito::UserPool", "PortalUsers")
		_, domain := s.resource(t, "AWS::Cognito::UserPoolDomain", "PortalUsersPortalSignIn")
		dp := props(domain)
		if jsonString(dp["UserPoolId"]) != `{"Ref":"`+poolID+`"}` || dp["CustomDomainConfig"] != nil {
			t.Errorf("user pool domain %v, want a Cognito prefix domain of the pool", dp)
		}
		wantDomain := `{"Fn::Join":["",["bulkprov-` + s.Config.Stage + `-",{"Ref":"AWS::AccountId"}]]}`
		if s.Config.CognitoDomainPrefix != "" {
			wantDomain = `"` + s.Config.CognitoDomainPrefix + `"`
		}
		if got := jsonString(dp["Domain"]); got != wantDomain {
			t.Errorf("domain prefix %s, want %s", got, wantDomain)
		}
	})
}

// testDeployedFiles checks the BucketDeployment of the page with its
// config.json.
func testDeployedFiles(t *testing.T, s *synthesized) {
	deployments := s.resources("Custom::CDKBucketDeployment")
	byBucket := map[string]map[string]any{}
	for _, d := range deployments {
		byBucket[jsonString(props(d)["DestinationBucketName"])] = props(d)
	}
	siteID, _ := s.resource(t, "AWS::S3::Bucket", "PortalSite")
	if len(deployments) != 1 {
		t.Fatalf("bucket deployments %d, want the portal page's", len(deployments))
	}

	t.Run("portal page deployment", func(t *testing.T) {
		d := byBucket[`{"Ref":"`+siteID+`"}`]
		if d == nil {
			t.Fatalf("no deployment into the portal site bucket: %v", sortedKeys(byBucket))
		}
		distID, _ := s.resource(t, "AWS::CloudFront::Distribution", "PortalDistribution")
		if jsonString(d["DistributionId"]) != `{"Ref":"`+distID+`"}` || jsonString(d["DistributionPaths"]) != `["/*"]` {
			t.Errorf("portal deployment invalidation %v %v, want /* on the portal distribution", d["DistributionId"], d["DistributionPaths"])
		}
		if d["Prune"] != true || d["DestinationBucketKeyPrefix"] != nil {
			t.Errorf("portal deployment prune %v prefix %v, want the whole bucket replaced", d["Prune"], d["DestinationBucketKeyPrefix"])
		}
		files := deployedFiles(t, s, d)
		var names []string
		for name := range files {
			names = append(names, name)
		}
		sort.Strings(names)
		if want := []string{"app.css", "app.js", "config.json", "index.html"}; !reflect.DeepEqual(names, want) {
			t.Errorf("deployed files %v, want %v", names, want)
		}
		index, err := os.ReadFile(filepath.Join(s.Paths.PortalSiteDir, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		if files["index.html"] != string(index) {
			t.Error("deployed index.html is not web/portal/static/index.html")
		}

		var config struct {
			API  string            `json:"api"`
			Auth map[string]string `json:"auth"`
		}
		if err := json.Unmarshal([]byte(files["config.json"]), &config); err != nil {
			t.Fatalf("config.json %q: %v", files["config.json"], err)
		}
		clientID, _ := s.resource(t, "AWS::Cognito::UserPoolClient", "PortalUsersPortalClient")
		domainID, _ := s.resource(t, "AWS::Cognito::UserPoolDomain", "PortalUsersPortalSignIn")
		apiID, _ := s.resource(t, "AWS::ApiGatewayV2::Api", "PortalHttpApi")
		region := deployTime(`{"Ref":"AWS::Region"}`)
		want := map[string]string{
			"mode":         "cognito",
			"client_id":    deployTime(`{"Ref":"` + clientID + `"}`),
			"redirect_uri": "https://" + deployTime(`{"Fn::GetAtt":["`+distID+`","DomainName"]}`) + "/",
			"domain":       "https://" + deployTime(`{"Ref":"`+domainID+`"}`) + ".auth." + region + ".amazoncognito.com",
		}
		if !reflect.DeepEqual(config.Auth, want) {
			t.Errorf("config.json auth = %v, want %v", config.Auth, want)
		}
		if wantAPI := "https://" + deployTime(`{"Ref":"`+apiID+`"}`) + ".execute-api." + region + "." + deployTime(`{"Ref":"AWS::URLSuffix"}`) + "/"; config.API != wantAPI {
			t.Errorf("config.json api = %s, want %s", config.API, wantAPI)
		}
	})

}

// testProvisioningRefusal checks that a missing file is answered like a
// wrong credential: S3's 403/404 fail over to the refusal function, whose
// answer (run in node) equals the viewer-request function's 401.
func testProvisioningRefusal(t *testing.T, s *synthesized) {
	t.Run("provisioning refusals are one 401", func(t *testing.T) {
		_, prov := s.resource(t, "AWS::CloudFront::Distribution", "ProvisioningDistribution")
		dc := props(prov)["DistributionConfig"].(map[string]any)
		groups := dc["OriginGroups"].(map[string]any)["Items"].([]any)
		if len(groups) != 1 {
			t.Fatalf("origin groups %s, want one", jsonString(groups))
		}
		group := groups[0].(map[string]any)
		codes := group["FailoverCriteria"].(map[string]any)["StatusCodes"].(map[string]any)
		if got := jsonString(codes["Items"]); got != `[403,404]` {
			t.Errorf("failover status codes %s, want [403,404]", got)
		}
		if beh := dc["DefaultCacheBehavior"].(map[string]any); beh["TargetOriginId"] != group["Id"] {
			t.Errorf("default behavior targets %v, want the origin group %v", beh["TargetOriginId"], group["Id"])
		}
		members := group["Members"].(map[string]any)["Items"].([]any)
		origins := map[string]string{}
		for _, o := range dc["Origins"].([]any) {
			om := o.(map[string]any)
			origins[om["Id"].(string)] = jsonString(om)
		}
		if len(members) != 2 {
			t.Fatalf("origin group members %s", jsonString(members))
		}
		provBucketID, _ := s.resource(t, "AWS::S3::Bucket", "Provisioning")
		primary := origins[members[0].(map[string]any)["OriginId"].(string)]
		fallback := origins[members[1].(map[string]any)["OriginId"].(string)]
		if !strings.Contains(primary, provBucketID) || !strings.Contains(primary, "OriginAccessControlId") {
			t.Errorf("primary origin %s, want the provisioning bucket through OAC", primary)
		}
		urlID, url := s.resource(t, "AWS::Lambda::Url", "ProvisioningRefusal")
		if !strings.Contains(fallback, urlID) || !strings.Contains(fallback, "OriginAccessControlId") {
			t.Errorf("fallback origin %s, want the refusal function URL through OAC", fallback)
		}
		if props(url)["AuthType"] != "AWS_IAM" {
			t.Errorf("refusal URL auth %v, want AWS_IAM (CloudFront only)", props(url)["AuthType"])
		}
		if statements := s.roleStatements(t, "ProvisioningRefusalRole"); len(statements) != 1 || statements["WriteOwnLogs"].Sid == "" {
			t.Errorf("refusal role statements %v, want only its own logs", statements)
		}

		_, fn := s.resource(t, "AWS::Lambda::Function", "ProvisioningRefusal")
		code, _ := props(fn)["Code"].(map[string]any)["ZipFile"].(string)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		script := `
const refusal = require(process.argv[1]);
const source = require('fs').readFileSync(process.argv[2], 'utf8').replace(/^import cf from 'cloudfront';$/m, '');
const cf = { kvs: () => ({ get: async (k) => { throw new Error('not found'); } }) };
const handler = new Function('cf', 'require', 'Buffer', source + '\nreturn handler;')(cf, require, Buffer);
(async () => {
  const edge = await handler({ request: { uri: '/acme/001565a1b2c3.cfg', headers: {} } });
  const headers = {};
  for (const k of Object.keys(edge.headers)) headers[k] = edge.headers[k].value;
  const fromEdge = { statusCode: edge.statusCode, headers, body: edge.body.data };
  console.log(JSON.stringify([fromEdge, await refusal.handler({})]));
})();`
		out, err := exec.Command("node", "-e", script, filepath.Join(dir, "index.js"), s.Paths.ViewerRequestCode).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		var answers []map[string]any
		if err := json.Unmarshal(out, &answers); err != nil || len(answers) != 2 {
			t.Fatalf("node output %s: %v", out, err)
		}
		if !reflect.DeepEqual(answers[0], answers[1]) {
			t.Errorf("missing file answers %v, wrong credential answers %v: they must be the same", answers[1], answers[0])
		}
		if answers[1]["statusCode"] != float64(401) || answers[1]["body"] != "Unauthorized\n" {
			t.Errorf("refusal %v, want 401 Unauthorized\\n", answers[1])
		}
	})
}

// portalRootJoin is the template's JSON for https://<portal domain>/.
func portalRootJoin(t *testing.T, s *synthesized) string {
	t.Helper()
	distID, _ := s.resource(t, "AWS::CloudFront::Distribution", "PortalDistribution")
	return `{"Fn::Join":["",["https://",{"Fn::GetAtt":["` + distID + `","DomainName"]},"/"]]}`
}

// deployedFiles reads a BucketDeployment's sources from the synthesized
// assets (directories named asset.<hash> for <hash>.zip), with deploy-time
// markers replaced by deployTime(<JSON of their CloudFormation value>).
func deployedFiles(t *testing.T, s *synthesized, d map[string]any) map[string]string {
	t.Helper()
	outdir := *awscdk.Stage_Of(s.Stack).Outdir()
	markers, _ := d["SourceMarkers"].([]any)
	files := map[string]string{}
	for i, key := range d["SourceObjectKeys"].([]any) {
		hash := strings.TrimSuffix(key.(string), ".zip")
		dir := filepath.Join(outdir, "asset."+hash)
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("asset of %s: %v", key, err)
		}
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			if i < len(markers) {
				if ms, ok := markers[i].(map[string]any); ok {
					for marker, value := range ms {
						// Inside a JSON string: escape the value's quotes.
						quoted := jsonString(deployTime(jsonString(value)))
						text = strings.ReplaceAll(text, marker, quoted[1:len(quoted)-1])
					}
				}
			}
			if regexp.MustCompile(`<<marker:`).MatchString(text) {
				t.Errorf("%s: unreplaced marker in %q", e.Name(), text)
			}
			files[e.Name()] = text
		}
	}
	return files
}

// deployTime marks a CloudFormation value inside a deployed file's text.
func deployTime(cfnJSON string) string { return "{{" + cfnJSON + "}}" }

func sortedStrings(v any) []string {
	out := stringList(v)
	sort.Strings(out)
	return out
}
