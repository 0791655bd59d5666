package main

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/bulkprov/bulkprov/internal/measure/cost"
)

// wantStatement is one expected IAM statement: its exact actions, strings
// its Resource must contain, and strings its Condition must contain.
type wantStatement struct {
	Actions   []string
	Resources []string
	Condition []string
}

func testStack(t *testing.T, s *synthesized) {
	t.Run("buckets", func(t *testing.T) { testBuckets(t, s) })
	t.Run("upload notification", func(t *testing.T) { testUploadNotification(t, s) })
	t.Run("table", func(t *testing.T) { testTable(t, s) })
	t.Run("functions", func(t *testing.T) { testFunctions(t, s) })
	t.Run("no managed policies on bulkprov roles", func(t *testing.T) { testNoManagedPolicies(t, s) })
	testRoleStatements(t, s)
	t.Run("kms key", func(t *testing.T) { testKMSKey(t, s) })
	t.Run("state machine", func(t *testing.T) { testStateMachine(t, s) })
	t.Run("ses", func(t *testing.T) { testSES(t, s) })
	t.Run("cloudfront", func(t *testing.T) { testCloudFront(t, s) })
	t.Run("alarms", func(t *testing.T) { testAlarms(t, s) })
	t.Run("portal api", func(t *testing.T) { testPortalAPI(t, s) })
	t.Run("tags", func(t *testing.T) { testTags(t, s) })
	t.Run("outputs", func(t *testing.T) { testOutputs(t, s) })
}

// testBuckets checks the five buckets: locked down, TLS only, logged, and
// each one's lifecycle; dev's buckets empty themselves on delete, prod's stay.
func testBuckets(t *testing.T, s *synthesized) {
	prod := s.Config.Prod()
	buckets := s.resources("AWS::S3::Bucket")
	if len(buckets) != 5 {
		t.Errorf("buckets: got %v, want uploads, jobs, provisioning, portal site, access logs", sortedKeys(buckets))
	}
	check(t, "every bucket blocks public access and is encrypted", func() {
		s.Template.AllResourcesProperties(jsii.String("AWS::S3::Bucket"), m(
			"PublicAccessBlockConfiguration", m("BlockPublicAcls", true, "BlockPublicPolicy", true, "IgnorePublicAcls", true, "RestrictPublicBuckets", true),
			"BucketEncryption", m("ServerSideEncryptionConfiguration", arr(m("ServerSideEncryptionByDefault", m("SSEAlgorithm", "AES256")))),
		))
	})
	wantDeletion := "Delete"
	if prod {
		wantDeletion = "Retain"
	}
	for id, b := range buckets {
		if b["DeletionPolicy"] != wantDeletion {
			t.Errorf("bucket %s: DeletionPolicy %v, want %s", id, b["DeletionPolicy"], wantDeletion)
		}
	}
	checkBucketsDenyPlainHTTP(t, s, buckets)
	checkBucketAccessLogs(t, s)
	checkBucketLifecycles(t, s)
	autoDelete := len(s.resources("Custom::S3AutoDeleteObjects"))
	if prod && autoDelete != 0 {
		t.Errorf("prod: %d auto-delete custom resources, want none", autoDelete)
	}
	if !prod && autoDelete != 5 {
		t.Errorf("dev: %d auto-delete custom resources, want one per bucket", autoDelete)
	}
}

// checkBucketsDenyPlainHTTP: enforceSSL gives each bucket a policy denying requests without TLS.
func checkBucketsDenyPlainHTTP(t *testing.T, s *synthesized, buckets map[string]map[string]any) {
	policies := s.resources("AWS::S3::BucketPolicy")
	for id := range buckets {
		found := false
		for _, p := range policies {
			doc := jsonString(props(p))
			if strings.Contains(jsonString(props(p)["Bucket"]), `"`+id+`"`) && strings.Contains(doc, `"aws:SecureTransport":"false"`) && strings.Contains(doc, `"Effect":"Deny"`) {
				found = true
			}
		}
		if !found {
			t.Errorf("bucket %s: no policy denying aws:SecureTransport=false", id)
		}
	}
}

// checkBucketAccessLogs: every bucket but the log bucket logs server access to it.
func checkBucketAccessLogs(t *testing.T, s *synthesized) {
	accessLogsID, accessLogs := s.resource(t, "AWS::S3::Bucket", "AccessLogs")
	if got := jsonString(props(accessLogs)["OwnershipControls"]); !strings.Contains(got, "BucketOwnerPreferred") {
		t.Errorf("access-log bucket ownership %s, want BucketOwnerPreferred (CloudFront standard logs use ACLs)", got)
	}
	for _, name := range []string{"Uploads", "Jobs", "Provisioning", "PortalSite"} {
		_, b := s.resource(t, "AWS::S3::Bucket", name)
		if got := jsonString(props(b)["LoggingConfiguration"]); !strings.Contains(got, accessLogsID) {
			t.Errorf("%s: server access logs %s, want the access-log bucket", name, got)
		}
	}
}

// checkBucketLifecycles: uploads are versioned, uploads and job files expire,
// and only the portal may PUT uploads from a browser.
func checkBucketLifecycles(t *testing.T, s *synthesized) {
	_, uploads := s.resource(t, "AWS::S3::Bucket", "Uploads")
	if got := jsonString(props(uploads)["VersioningConfiguration"]); got != `{"Status":"Enabled"}` {
		t.Errorf("uploads versioning %s", got)
	}
	check(t, "uploads lifecycle: old uploads and noncurrent versions expire", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), m("LifecycleConfiguration", m("Rules", assertions.Match_ArrayWith(arr(
			m("Id", "expire-uploads", "Prefix", "tenants/", "Status", "Enabled",
				"ExpirationInDays", s.Config.UploadsExpireDays,
				"NoncurrentVersionExpiration", m("NoncurrentDays", s.Config.NoncurrentVersionsExpireDays),
				"AbortIncompleteMultipartUpload", m("DaysAfterInitiation", 1)),
		)))))
	})
	check(t, "jobs lifecycle", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), m("LifecycleConfiguration", m("Rules", arr(
			m("Id", "expire-jobs", "Prefix", "jobs/", "Status", "Enabled", "ExpirationInDays", s.Config.JobsExpireDays,
				"AbortIncompleteMultipartUpload", m("DaysAfterInitiation", 1)),
		))))
	})
	check(t, "portal uploads: CORS for presigned PUTs from the portal only", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), m("CorsConfiguration", m("CorsRules", arr(
			m("AllowedMethods", arr("PUT"), "AllowedOrigins", arr(assertions.Match_ObjectLike(m("Fn::Join", assertions.Match_AnyValue())))),
		))))
	})
}

func testUploadNotification(t *testing.T, s *synthesized) {
	ingestID, _ := s.resource(t, "AWS::Lambda::Function", "Ingest")
	notifications := s.resources("Custom::S3BucketNotifications")
	if len(notifications) != 1 {
		t.Fatalf("bucket notifications: %d, want 1", len(notifications))
	}
	for _, n := range notifications {
		p := props(n)
		cfg := p["NotificationConfiguration"].(map[string]any)
		lambdas, _ := cfg["LambdaFunctionConfigurations"].([]any)
		if len(lambdas) != 1 || len(cfg) != 1 {
			t.Fatalf("notification configuration %s, want one Lambda configuration", jsonString(cfg))
		}
		got := lambdas[0].(map[string]any)
		if jsonString(got["Events"]) != `["s3:ObjectCreated:*"]` || jsonString(got["LambdaFunctionArn"]) != `{"Fn::GetAtt":["`+ingestID+`","Arn"]}` {
			t.Errorf("notification %s, want ObjectCreated to ingest", jsonString(got))
		}
		rules := map[string]string{}
		for _, r := range got["Filter"].(map[string]any)["Key"].(map[string]any)["FilterRules"].([]any) {
			rm := r.(map[string]any)
			rules[rm["Name"].(string)] = rm["Value"].(string)
		}
		if !reflect.DeepEqual(rules, map[string]string{"prefix": "tenants/", "suffix": ".csv"}) {
			t.Errorf("filter rules %v, want prefix tenants/ and suffix .csv", rules)
		}
		if !strings.Contains(jsonString(p["BucketName"]), "Uploads") {
			t.Errorf("notification on %s, want the uploads bucket", jsonString(p["BucketName"]))
		}
	}
}

func testTable(t *testing.T, s *synthesized) {
	prod := s.Config.Prod()
	_, table := s.resource(t, "AWS::DynamoDB::Table", "Table")
	p := props(table)
	want := map[string]string{
		"KeySchema":                        `[{"AttributeName":"PK","KeyType":"HASH"},{"AttributeName":"SK","KeyType":"RANGE"}]`,
		"AttributeDefinitions":             `[{"AttributeName":"PK","AttributeType":"S"},{"AttributeName":"SK","AttributeType":"S"}]`,
		"BillingMode":                      `"PAY_PER_REQUEST"`,
		"PointInTimeRecoverySpecification": `{"PointInTimeRecoveryEnabled":true}`,
		"TimeToLiveSpecification":          `{"AttributeName":"ExpiresAt","Enabled":true}`,
		"SSESpecification":                 `{"SSEEnabled":true}`,
		"DeletionProtectionEnabled":        fmt.Sprint(prod),
	}
	for k, v := range want {
		if got := jsonString(p[k]); got != v {
			t.Errorf("table %s = %s, want %s", k, got, v)
		}
	}
	// Prod's table is pre-warmed to the write rate the cost model uses.
	wantWarm := "null"
	if prod {
		wantWarm = fmt.Sprintf(`{"ReadUnitsPerSecond":12000,"WriteUnitsPerSecond":%d}`, cost.ProdWarmWriteUnitsPerSecond)
	}
	if got := jsonString(p["WarmThroughput"]); got != wantWarm {
		t.Errorf("table WarmThroughput = %s, want %s", got, wantWarm)
	}
	if wantPolicy := map[bool]string{true: "Retain", false: "Delete"}[prod]; table["DeletionPolicy"] != wantPolicy {
		t.Errorf("table DeletionPolicy %v, want %s", table["DeletionPolicy"], wantPolicy)
	}
}

// wantFunction is one Lambda's expected settings.
type wantFunction struct {
	id       string
	memory   int
	timeout  int
	reserved int
	env      []string
}

func testFunctions(t *testing.T, s *synthesized) {
	stage := s.Config.Stage
	cfg := s.Config
	wants := map[string]wantFunction{
		"ingest":             {"Ingest", 1024, 300, 0, []string{"JOBS_BUCKET", "KMS_KEY_ID", "STATE_MACHINE_ARN", "TABLE_NAME", "UPLOADS_BUCKET"}},
		"create-records":     {"CreateRecords", 512, 20, cfg.CreateRecordsReservedConcurrency, []string{"JOBS_BUCKET", "KMS_KEY_ID", "TABLE_NAME"}},
		"write-provisioning": {"WriteProvisioning", 512, 20, 0, []string{"JOBS_BUCKET", "KMS_KEY_ID", "PROVISIONING_BUCKET", "PROVISIONING_URL", "TABLE_NAME"}},
		"send-welcome":       {"SendWelcome", 256, 810, cfg.SendWelcomeReservedConcurrency, []string{"JOBS_BUCKET", "KMS_KEY_ID", "TABLE_NAME"}},
		"finalize":           {"Finalize", 512, 270, 0, []string{"JOBS_BUCKET", "TABLE_NAME"}},
		"portal-api":         {"PortalApi", 256, 29, 0, []string{"JOBS_BUCKET", "KMS_KEY_ID", "TABLE_NAME", "UPLOADS_BUCKET"}},
	}
	if cfg.CreateRecordsReservedConcurrency == 0 || cfg.SendWelcomeReservedConcurrency == 0 {
		t.Fatalf("cdk.json's %s stage should reserve concurrency for create-records and send-welcome", stage)
	}
	roles := map[string]string{}
	for _, name := range functionNames() {
		checkFunction(t, s, name, wants[name], roles)
	}
}

// checkFunction checks one Lambda: runtime and size, logging, reserved
// concurrency, environment, and a role of its own (recorded in roles).
func checkFunction(t *testing.T, s *synthesized, name string, w wantFunction, roles map[string]string) {
	stage := s.Config.Stage
	_, fn := s.resource(t, "AWS::Lambda::Function", w.id)
	p := props(fn)
	fixed := map[string]string{
		"FunctionName":  `"bulkprov-` + stage + `-` + name + `"`,
		"Runtime":       `"provided.al2023"`,
		"Architectures": `["arm64"]`,
		"Handler":       `"bootstrap"`,
		"MemorySize":    fmt.Sprint(w.memory),
		"Timeout":       fmt.Sprint(w.timeout),
	}
	for k, v := range fixed {
		if got := jsonString(p[k]); got != v {
			t.Errorf("%s %s = %s, want %s", name, k, got, v)
		}
	}
	logs := p["LoggingConfig"].(map[string]any)
	if logs["LogFormat"] != "JSON" || logs["ApplicationLogLevel"] != "INFO" || logs["SystemLogLevel"] != "WARN" {
		t.Errorf("%s LoggingConfig %v, want JSON/INFO/WARN", name, logs)
	}
	if got := jsonString(logs["LogGroup"]); !strings.Contains(got, w.id+"Logs") {
		t.Errorf("%s log group %s, want its own", name, got)
	}
	gotReserved := 0
	if v, ok := p["ReservedConcurrentExecutions"].(float64); ok {
		gotReserved = int(v)
	}
	if gotReserved != w.reserved {
		t.Errorf("%s reserved concurrency %d, want %d", name, gotReserved, w.reserved)
	}
	env := p["Environment"].(map[string]any)["Variables"].(map[string]any)
	if got := sortedKeys(env); !reflect.DeepEqual(got, w.env) {
		t.Errorf("%s env %v, want %v", name, got, w.env)
	}
	role := jsonString(p["Role"])
	if !strings.Contains(role, w.id+"Role") {
		t.Errorf("%s role %s, want its own %sRole", name, role, w.id)
	}
	if other, dup := roles[role]; dup {
		t.Errorf("%s shares its role with %s", name, other)
	}
	roles[role] = name
	check(t, name+" log group retention", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), m(
			"LogGroupName", "/aws/lambda/bulkprov-"+stage+"-"+name, "RetentionInDays", s.Config.LogRetentionDays))
	})
}

func testNoManagedPolicies(t *testing.T, s *synthesized) {
	for id, r := range s.resources("AWS::IAM::Role") {
		if strings.HasPrefix(id, "BucketNotificationsHandler") || strings.HasPrefix(id, "CustomS3AutoDeleteObjects") || strings.HasPrefix(id, "CustomCDKBucketDeployment") {
			continue // CDK's own deploy-time handlers (see nag exceptions)
		}
		if mp := props(r)["ManagedPolicyArns"]; mp != nil {
			t.Errorf("role %s has managed policies %v", id, mp)
		}
	}
}

func testKMSKey(t *testing.T, s *synthesized) {
	stage := s.Config.Stage
	check(t, "rotation", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::KMS::Key"), m("EnableKeyRotation", true))
	})
	check(t, "alias", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::KMS::Alias"), m("AliasName", "alias/bulkprov-"+stage+"-sip-secrets"))
	})
}

func testStateMachine(t *testing.T, s *synthesized) {
	stage := s.Config.Stage
	_, sm := s.resource(t, "AWS::StepFunctions::StateMachine", "Workflow")
	p := props(sm)
	if p["StateMachineName"] != "bulkprov-"+stage || p["StateMachineType"] != "STANDARD" {
		t.Errorf("name/type %v/%v", p["StateMachineName"], p["StateMachineType"])
	}
	if got := jsonString(p["TracingConfiguration"]); got != `{"Enabled":true}` {
		t.Errorf("tracing %s", got)
	}
	lc := p["LoggingConfiguration"].(map[string]any)
	if lc["Level"] != "ALL" || lc["IncludeExecutionData"] != false || !strings.Contains(jsonString(lc["Destinations"]), "StateMachineLogs") {
		t.Errorf("logging %v, want ALL without execution data to StateMachineLogs", lc)
	}
	if p["DefinitionS3Location"] == nil {
		t.Error("definition should come from the ASL file asset")
	}
	check(t, "vended log group", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), m(
			"LogGroupName", "/aws/vendedlogs/states/bulkprov-"+stage, "RetentionInDays", s.Config.LogRetentionDays))
	})
	subs := p["DefinitionSubstitutions"].(map[string]any)
	for key, fn := range map[string]string{
		subCreateRecords: "CreateRecords", subWriteProvisioning: "WriteProvisioning", subSendWelcome: "SendWelcome", subFinalize: "Finalize",
	} {
		if got := jsonString(subs[key]); !strings.HasPrefix(got, `{"Fn::GetAtt":["`+fn) {
			t.Errorf("substitution %s = %s, want %s's ARN", key, got, fn)
		}
	}
}

func testSES(t *testing.T, s *synthesized) {
	check(t, "configuration set", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SES::ConfigurationSet"), m(
			"Name", s.Config.SESConfigurationSet, "DeliveryOptions", m("TlsPolicy", "REQUIRE")))
	})
	check(t, "domain identity", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::SES::EmailIdentity"), m(
			"EmailIdentity", s.Config.SESDomain, "ConfigurationSetAttributes", assertions.Match_AnyValue()))
	})
}

func testCloudFront(t *testing.T, s *synthesized) {
	kvsID, _ := s.resource(t, "AWS::CloudFront::KeyValueStore", "ProvisioningCredentials")
	fnID, fn := s.resource(t, "AWS::CloudFront::Function", "ProvisioningAuth")
	cfg := props(fn)["FunctionConfig"].(map[string]any)
	if cfg["Runtime"] != "cloudfront-js-2.0" || !strings.Contains(jsonString(cfg["KeyValueStoreAssociations"]), kvsID) {
		t.Errorf("function config %v, want cloudfront-js-2.0 with the credentials store", cfg)
	}
	_, prov := s.resource(t, "AWS::CloudFront::Distribution", "ProvisioningDistribution")
	dc := props(prov)["DistributionConfig"].(map[string]any)
	beh := dc["DefaultCacheBehavior"].(map[string]any)
	if beh["ViewerProtocolPolicy"] != "https-only" {
		t.Errorf("provisioning viewer protocol %v, want https-only", beh["ViewerProtocolPolicy"])
	}
	if got := jsonString(beh["FunctionAssociations"]); !strings.Contains(got, `"EventType":"viewer-request"`) || !strings.Contains(got, fnID) {
		t.Errorf("provisioning function associations %s", got)
	}
	if got := jsonString(beh["AllowedMethods"]); got != `["GET","HEAD"]` {
		t.Errorf("provisioning methods %s", got)
	}
	provBucketID, _ := s.resource(t, "AWS::S3::Bucket", "Provisioning")
	origins := jsonString(dc["Origins"])
	if !strings.Contains(origins, provBucketID) || !strings.Contains(origins, "OriginAccessControlId") {
		t.Errorf("provisioning origin %s, want the provisioning bucket through OAC", origins)
	}
	for name, prefix := range map[string]string{"ProvisioningDistribution": "cloudfront/provisioning/", "PortalDistribution": "cloudfront/portal/"} {
		_, d := s.resource(t, "AWS::CloudFront::Distribution", name)
		logging := jsonString(props(d)["DistributionConfig"].(map[string]any)["Logging"])
		if !strings.Contains(logging, "AccessLogs") || !strings.Contains(logging, prefix) {
			t.Errorf("%s logging %s", name, logging)
		}
	}
	_, portal := s.resource(t, "AWS::CloudFront::Distribution", "PortalDistribution")
	pdc := props(portal)["DistributionConfig"].(map[string]any)
	if pdc["DefaultRootObject"] != "index.html" || pdc["DefaultCacheBehavior"].(map[string]any)["ViewerProtocolPolicy"] != "redirect-to-https" {
		t.Errorf("portal distribution %v", pdc)
	}
	// OAC: the provisioning bucket admits CloudFront for this distribution only.
	check(t, "provisioning bucket policy for OAC", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), m(
			"Bucket", m("Ref", provBucketID),
			"PolicyDocument", m("Statement", assertions.Match_ArrayWith(arr(assertions.Match_ObjectLike(m(
				"Action", "s3:GetObject",
				"Principal", m("Service", "cloudfront.amazonaws.com"),
				"Condition", m("StringEquals", m("AWS:SourceArn", assertions.Match_AnyValue())),
			))))),
		))
	})
	// Two S3 origins and the provisioning refusal function URL.
	s.Template.ResourceCountIs(jsii.String("AWS::CloudFront::OriginAccessControl"), jsii.Number(3))
}

func testAlarms(t *testing.T, s *synthesized) {
	alarms := s.resources("AWS::CloudWatch::Alarm")
	var errorsAlarms, failed, ingestFailed int
	for _, a := range alarms {
		p := props(a)
		switch {
		case p["MetricName"] == "Errors" && p["Namespace"] == "AWS/Lambda":
			errorsAlarms++
		case p["MetricName"] == "ExecutionsFailed" && p["Namespace"] == "AWS/States":
			failed++
		case p["MetricName"] == "ApproximateNumberOfMessagesVisible" && p["Namespace"] == "AWS/SQS":
			ingestFailed++
		}
		if p["Threshold"] != float64(1) || p["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" {
			t.Errorf("alarm %v: want >= 1", p["AlarmDescription"])
		}
	}
	wantErrors := 6 + len(softswitchFunctionNames())
	if errorsAlarms != wantErrors || failed != 1 || ingestFailed != 1 || len(alarms) != wantErrors+2 {
		t.Errorf("alarms: %d Lambda Errors, %d ExecutionsFailed, %d ingest-failures queue of %d; want %d, 1 and 1", errorsAlarms, failed, ingestFailed, len(alarms), wantErrors)
	}
}

func testPortalAPI(t *testing.T, s *synthesized) {
	routes := map[string]bool{}
	authID, auth := s.resource(t, "AWS::ApiGatewayV2::Authorizer", "PortalHttpApiPortalAuthorizer")
	if props(auth)["AuthorizerType"] != "JWT" || !strings.Contains(jsonString(props(auth)["JwtConfiguration"]), "cognito-idp") {
		t.Errorf("authorizer %v, want JWT from the Cognito user pool", props(auth))
	}
	for _, r := range s.resources("AWS::ApiGatewayV2::Route") {
		p := props(r)
		routes[p["RouteKey"].(string)] = true
		if p["AuthorizationType"] != "JWT" || jsonString(p["AuthorizerId"]) != `{"Ref":"`+authID+`"}` {
			t.Errorf("route %v is not behind the JWT authorizer", p["RouteKey"])
		}
	}
	want := []string{"GET /jobs", "GET /jobs/{id}", "GET /jobs/{id}/report", "GET /jobs/{id}/users", "GET /me", "GET /settings", "GET /template", "GET /users",
		"POST /jobs/{id}/users/{extension}/welcome", "POST /jobs/{id}/welcome", "POST /settings/preview", "POST /uploads", "POST /validate", "PUT /settings"}
	if got := sortedKeys(routes); !reflect.DeepEqual(got, want) {
		t.Errorf("routes %v, want %v", got, want)
	}
	check(t, "all routes go to portal-api", func() {
		s.Template.AllResourcesProperties(jsii.String("AWS::ApiGatewayV2::Integration"), m(
			"IntegrationType", "AWS_PROXY", "IntegrationUri", m("Fn::GetAtt", arr(assertions.Match_StringLikeRegexp(jsii.String("^PortalApi[0-9A-F]{8}$")), "Arn"))))
	})
	check(t, "stage access logs", func() {
		s.Template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Stage"), m(
			"StageName", "$default", "AutoDeploy", true,
			"AccessLogSettings", m("DestinationArn", m("Fn::GetAtt", arr(assertions.Match_StringLikeRegexp(jsii.String("^PortalApiAccessLogs")), "Arn")),
				"Format", assertions.Match_StringLikeRegexp(jsii.String(`custom:tenant`)))))
	})
	_, pool := s.resource(t, "AWS::Cognito::UserPool", "PortalUsers")
	pp := props(pool)
	if got := jsonString(pp["Schema"]); !strings.Contains(got, `"Name":"tenant"`) || !strings.Contains(got, `"Mutable":false`) {
		t.Errorf("user pool schema %s, want an immutable custom tenant attribute", got)
	}
	if jsonString(pp["AdminCreateUserConfig"]) != `{"AllowAdminCreateUserOnly":true}` || pp["MfaConfiguration"] != "ON" {
		t.Errorf("user pool: admin-created users with MFA wanted, got %v / %v", pp["AdminCreateUserConfig"], pp["MfaConfiguration"])
	}
	_, client := s.resource(t, "AWS::Cognito::UserPoolClient", "PortalUsersPortalClient")
	cp := props(client)
	if w := jsonString(cp["WriteAttributes"]); strings.Contains(w, "tenant") {
		t.Errorf("client may write %s: users must not change their tenant", w)
	}
	if r := jsonString(cp["ReadAttributes"]); !strings.Contains(r, "custom:tenant") {
		t.Errorf("client read attributes %s, want custom:tenant", r)
	}
	if cp["GenerateSecret"] != false {
		t.Errorf("portal client must be public (no secret), got %v", cp["GenerateSecret"])
	}
}

func testTags(t *testing.T, s *synthesized) {
	stage := s.Config.Stage
	for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::Lambda::Function", "AWS::S3::Bucket", "AWS::StepFunctions::StateMachine", "AWS::KMS::Key"} {
		for id, r := range s.resources(typ) {
			if strings.HasPrefix(id, "CustomS3AutoDeleteObjects") || strings.HasPrefix(id, "BucketNotificationsHandler") {
				continue // CDK's deploy-time handlers
			}
			tags := map[string]string{}
			list, _ := props(r)["Tags"].([]any)
			for _, tag := range list {
				tm := tag.(map[string]any)
				tags[tm["Key"].(string)] = tm["Value"].(string)
			}
			if tags["project"] != "bulkprov" || tags["stage"] != stage {
				t.Errorf("%s %s tags %v, want project=bulkprov stage=%s", typ, id, tags, stage)
			}
		}
	}
}

func testOutputs(t *testing.T, s *synthesized) {
	outputs := s.JSON["Outputs"].(map[string]any)
	want := []string{"AccessLogsBucketName", "ApiUrl", "IngestFailuresQueueUrl", "JobsBucketName", "PortalSiteBucketName", "PortalUrl",
		"ProvisioningBucketName", "ProvisioningCredentialsStoreArn", "ProvisioningUrl", "SipLookupUrl", "SipSecretsKeyArn",
		"StateMachineArn", "TableName", "UploadsBucketName", "UserPoolClientId", "UserPoolDomainUrl", "UserPoolId"}
	if got := sortedKeys(outputs); !reflect.DeepEqual(got, want) {
		t.Errorf("outputs %v, want %v", got, want)
	}
	for id, o := range outputs {
		text := jsonString(o)
		for _, stale := range []string{"web/portal/dist", "v1:"} {
			if strings.Contains(text, stale) {
				t.Errorf("output %s mentions %q: %s", id, stale, text)
			}
		}
	}
	if got, _ := outputs["ProvisioningCredentialsStoreArn"].(map[string]any)["Description"].(string); !strings.Contains(got, "<path> = hmac1$<device key>") {
		t.Errorf("credentials store output %s should give the value format", got)
	}
}

// wantRoleStatements is every bulkprov role's exact IAM statements by Sid.
// It is one table, one role per entry, and reads best whole.
func wantRoleStatements(s *synthesized) map[string]map[string]wantStatement {
	stage := s.Config.Stage
	smArn := ":stateMachine:bulkprov-" + stage
	tenantCondition := []string{`"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["tenant"]}`}
	logs := func(id string) wantStatement {
		return wantStatement{Actions: []string{"logs:CreateLogStream", "logs:PutLogEvents"}, Resources: []string{id + "Logs"}}
	}
	table := []string{"Table"}
	jobObjects := []string{"Jobs", "/jobs/*"}
	uploadObjects := []string{"Uploads", "/tenants/*"}
	// ListBucket on the jobs bucket itself (no object ARN), only for keys under jobs/.
	listJobFiles := wantStatement{Actions: []string{"s3:ListBucket"}, Resources: []string{`{"Fn::GetAtt":["Jobs`, `","Arn"]}`}, Condition: []string{`{"StringLike":{"s3:prefix":["jobs/*"]}}`}}
	sesResources := []string{"MailIdentity", ":configuration-set/" + s.Config.SESConfigurationSet}
	return map[string]map[string]wantStatement{
		"IngestRole": {
			"WriteOwnLogs":  logs("Ingest"),
			"ReadUploads":   {Actions: []string{"s3:GetObject", "s3:GetObjectVersion"}, Resources: uploadObjects},
			"WriteJobFiles": {Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: jobObjects},
			"ListJobFiles":  listJobFiles,
			"TableAccess":   {Actions: []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}, Resources: table},
			"StartWorkflow": {Actions: []string{"states:StartExecution"}, Resources: []string{smArn}},
			// Secrets a peer's export brings (import-secrets), sealed at ingest.
			"SealImportedSecrets": {Actions: []string{"kms:GenerateDataKey"}, Resources: []string{"SipSecretsKey"}, Condition: tenantCondition},
			// Lambda's onFailure destination for events ingest gave up on.
			"SendFailedEvents": {Actions: []string{"sqs:SendMessage"}, Resources: []string{`{"Fn::GetAtt":["IngestFailures`, `","Arn"]}`}},
		},
		"CreateRecordsRole": {
			"WriteOwnLogs": logs("CreateRecords"),
			"TableAccess":  {Actions: []string{"dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, Resources: table},
			"SealSecrets":  {Actions: []string{"kms:GenerateDataKey"}, Resources: []string{"SipSecretsKey"}, Condition: tenantCondition},
			"WriteResults": {Actions: []string{"s3:PutObject"}, Resources: jobObjects},
		},
		"WriteProvisioningRole": {
			"WriteOwnLogs":           logs("WriteProvisioning"),
			"TableRead":              {Actions: []string{"dynamodb:BatchGetItem", "dynamodb:GetItem"}, Resources: table},
			"OpenSecrets":            {Actions: []string{"kms:Decrypt"}, Resources: []string{"SipSecretsKey"}, Condition: tenantCondition},
			"WriteProvisioningFiles": {Actions: []string{"s3:PutObject"}, Resources: []string{"Provisioning", "/*"}},
			"UpdateResults":          {Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: jobObjects},
		},
		"SendWelcomeRole": {
			"WriteOwnLogs":  logs("SendWelcome"),
			"TableAccess":   {Actions: []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PartiQLUpdate", "dynamodb:PutItem", "dynamodb:UpdateItem"}, Resources: table},
			"OpenSecrets":   {Actions: []string{"kms:Decrypt"}, Resources: []string{"SipSecretsKey"}, Condition: tenantCondition},
			"SendEmail":     {Actions: []string{"ses:SendEmail"}, Resources: sesResources},
			"ReadSendQuota": {Actions: []string{"ses:GetAccount"}, Resources: []string{`"*"`}},
			"JobFiles":      {Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: jobObjects},
		},
		"FinalizeRole": {
			"WriteOwnLogs": logs("Finalize"),
			"JobFiles":     {Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: jobObjects},
			"ListJobFiles": listJobFiles,
			"TableAccess":  {Actions: []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, Resources: table},
			// No ses:SendEmail: finalize sends nothing.
		},
		"PortalApiRole": {
			"WriteOwnLogs":   logs("PortalApi"),
			"PresignUploads": {Actions: []string{"s3:PutObject"}, Resources: uploadObjects},
			"JobFiles":       {Actions: []string{"s3:GetObject", "s3:PutObject"}, Resources: jobObjects},
			"ListJobFiles":   listJobFiles,
			"TableAccess": {Actions: []string{"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem",
				"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}, Resources: table},
			"OpenSecrets":   {Actions: []string{"kms:Decrypt"}, Resources: []string{"SipSecretsKey"}, Condition: tenantCondition},
			"SendEmail":     {Actions: []string{"ses:SendEmail"}, Resources: sesResources},
			"ReadSendQuota": {Actions: []string{"ses:GetAccount"}, Resources: []string{`"*"`}},
			// Per-tenant request budgets (issue #17): counters only.
			"SpendTenantBudgets": {Actions: []string{"dynamodb:UpdateItem"}, Resources: table, Condition: []string{
				`"ForAllValues:StringLike":{"dynamodb:LeadingKeys":["TENANT#*"]}`,
				`"ForAllValues:StringEquals":{"dynamodb:Attributes":["PK","SK","Requests","Rows","ExpiresAt"]}`}},
		},
		"StateMachineRole": {
			"InvokeSteps": {Actions: []string{"lambda:InvokeFunction"}, Resources: []string{
				"CreateRecords", "WriteProvisioning", "SendWelcome", "Finalize", `":*"`}},
			"StartChildExecutions":  {Actions: []string{"states:StartExecution"}, Resources: []string{smArn}},
			"ManageChildExecutions": {Actions: []string{"states:DescribeExecution", "states:StopExecution"}, Resources: []string{":execution:bulkprov-" + stage + "/*", ":execution:bulkprov-" + stage + ":*"}},
			"ReadRows":              {Actions: []string{"s3:GetObject"}, Resources: jobObjects},
			"ListResults":           {Actions: []string{"s3:ListBucket"}, Resources: []string{"Jobs"}, Condition: []string{`"StringLike":{"s3:prefix":["jobs/*"]}`}},
			// Added by CDK for LogLevel ALL delivery and X-Ray tracing.
			"": {Actions: []string{
				"logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
				"logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery",
				"xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments",
			}, Resources: []string{`"*"`}},
		},
	}
}

// testRoleStatements checks each role's policy statement by statement: the
// Sids exactly, each statement's actions exactly, its resources and conditions.
func testRoleStatements(t *testing.T, s *synthesized) {
	roleWants := wantRoleStatements(s)
	for _, role := range sortedKeys(roleWants) {
		wants := roleWants[role]
		t.Run("iam "+role, func(t *testing.T) { checkRoleStatements(t, s.roleStatements(t, role), wants) })
	}
}

// checkRoleStatements compares one role's statements (by Sid) with wants.
func checkRoleStatements(t *testing.T, got map[string]statement, wants map[string]wantStatement) {
	if g, w := sortedKeys(got), sortedKeys(wants); !reflect.DeepEqual(g, w) {
		t.Errorf("statements %v, want exactly %v", g, w)
	}
	for sid, w := range wants {
		st, ok := got[sid]
		if !ok {
			continue
		}
		want := append([]string(nil), w.Actions...)
		sort.Strings(want)
		if !reflect.DeepEqual(st.Actions, want) {
			t.Errorf("%q actions %v, want %v", sid, st.Actions, want)
		}
		for _, r := range w.Resources {
			if !strings.Contains(st.Resources, r) {
				t.Errorf("%q resources %s, want them to contain %s", sid, st.Resources, r)
			}
		}
		if st.Resources == `"*"` && !reflect.DeepEqual(w.Resources, []string{`"*"`}) {
			t.Errorf("%q has Resource * without a reason", sid)
		}
		for _, c := range w.Condition {
			if !strings.Contains(st.Conditions, c) {
				t.Errorf("%q condition %s, want it to contain %s", sid, st.Conditions, c)
			}
		}
		if len(w.Condition) == 0 && st.Conditions != "" {
			t.Errorf("%q has an unexpected condition %s", sid, st.Conditions)
		}
	}
}

func TestStackDev(t *testing.T) {
	s := synth(t, "dev", nil)
	testStack(t, s)
	testPortalSignIn(t, s)
	testDeployedFiles(t, s)
	testProvisioningRefusal(t, s)
	testNag(t, s)
	testTenantBoundary(t, s)
}

// An explicit cognitoDomainPrefix replaces the account-based default.
func TestStackCognitoDomainPrefix(t *testing.T) {
	s := synth(t, "dev", map[string]any{"cognitoDomainPrefix": "acme-pbx-signin"})
	if s.Config.CognitoDomainPrefix != "acme-pbx-signin" {
		t.Fatalf("config %+v", s.Config)
	}
	testPortalSignIn(t, s)
}

func TestStackProd(t *testing.T) {
	s := synth(t, "prod", nil)
	testStack(t, s)
	testPortalSignIn(t, s)
	testDeployedFiles(t, s)
	testProvisioningRefusal(t, s)
	testNag(t, s)
	t.Run("prod keeps data", func(t *testing.T) {
		for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::Cognito::UserPool", "AWS::Logs::LogGroup"} {
			for id, r := range s.resources(typ) {
				if r["DeletionPolicy"] != "Retain" {
					t.Errorf("%s %s: DeletionPolicy %v, want Retain", typ, id, r["DeletionPolicy"])
				}
			}
		}
		_, pool := s.resource(t, "AWS::Cognito::UserPool", "PortalUsers")
		if props(pool)["DeletionProtection"] != "ACTIVE" {
			t.Errorf("prod user pool deletion protection %v", props(pool)["DeletionProtection"])
		}
	})
}
