package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3notifications"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/bulkprov/bulkprov/internal/portal"
)

// Paths are the files the stack turns into assets.
type Paths struct {
	LambdaAssetDir    string // holds <function>/bootstrap (bin/lambda)
	StateMachineFile  string // infra/statemachine/bulkprov.asl.json
	ViewerRequestCode string // infra/cloudfront/provisioning-auth.js
	RefusalBodyFile   string // infra/cloudfront/errors/401.txt
	PortalSiteDir     string // web/portal/static
}

// StackProps configures NewBulkprovStack.
type StackProps struct {
	awscdk.StackProps
	Config StageConfig
	Paths  Paths
}

// Substitution keys of the ASL file (given without ${}).
const (
	subCreateRecords     = "CreateRecordsFunctionArn"
	subWriteProvisioning = "WriteProvisioningFunctionArn"
	subSendWelcome       = "SendWelcomeFunctionArn"
	subFinalize          = "FinalizeFunctionArn"
)

// Key prefixes the functions' permissions are scoped to; they mirror
// internal/jobfiles (uploads under tenants/, job files under jobs/).
const (
	uploadsPrefix = "tenants/"
	jobsPrefix    = "jobs/"
)

// provisioningRealm is the Basic challenge of every refused phone request;
// provisioning-auth.js answers with the same value.
const provisioningRealm = `Basic realm="provisioning", charset="UTF-8"`

// NewBulkprovStack defines bulkprov's whole deployment for one stage, part
// by part. The order matters: it is the order of the template's resources.
func NewBulkprovStack(scope constructs.Construct, id string, props *StackProps) (awscdk.Stack, error) {
	s, err := newBulkprovStack(scope, id, props)
	if err != nil {
		return nil, err
	}
	s.addBuckets()
	s.addTable()
	s.addSecretsKey()
	s.addEmail()
	if err := s.addProvisioningEdge(); err != nil {
		return nil, err
	}
	s.addPortalEdge()
	if err := s.addFunctions(); err != nil {
		return nil, err
	}
	s.addWorkflow()
	s.addPortalUsers()
	s.addPortalAPI()
	s.addDeployedFiles()
	s.addOutputs()
	s.acceptFindings()
	return s.stack, nil
}

// bulkprovStack is the stack being built and the constructs its parts
// share; each add method defines one part and sets the fields later parts
// use. A method first takes the fields it reads into locals of the same
// name, so its statements read (and merge) as they did when the stack was
// one function.
type bulkprovStack struct {
	stack     awscdk.Stack
	cfg       StageConfig
	props     *StackProps
	retention awslogs.RetentionDays
	removal   awscdk.RemovalPolicy

	// Storage and secrets.
	accessLogs, uploads, jobs, provisioning, portalSite awss3.Bucket
	table                                               awsdynamodb.Table
	sipKey                                              awskms.Key
	tenantContext                                       map[string]any // the condition every use of sipKey carries
	sendEmailResources                                  []string       // the SES identity and configuration set

	// CloudFront.
	credentials                               awscloudfront.KeyValueStore
	provisioningCDN, portalCDN                awscloudfront.Distribution
	provisioningURL, portalURL, portalRootURL string

	// What every function shares, and what their grants name.
	defaults                             functionDefaults
	timeouts                             map[string]int // by ASL substitution key
	stateMachineName, stateMachineArn    string
	tableArn, uploadsObjects, jobObjects string

	// The functions.
	ingest, createRecords, writeProvisioning, sendWelcome, finalize *goFunction
	portalAPI                                                       *goFunction
	ingestFailed                                                    *ingestFailures

	// Workflow.
	smRole       awsiam.Role
	stateMachine awsstepfunctions.StateMachine

	// Portal.
	userPool       awscognito.UserPool
	userPoolClient awscognito.UserPoolClient
	signInURL      string
	apiStage       awsapigatewayv2.HttpStage
}

// newBulkprovStack makes the tagged, empty stack and the stage's log
// retention and removal policy.
func newBulkprovStack(scope constructs.Construct, id string, props *StackProps) (*bulkprovStack, error) {
	cfg := props.Config
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("bulkprov"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("stage"), jsii.String(cfg.Stage), nil)

	retention, err := retentionDays(cfg.LogRetentionDays)
	if err != nil {
		return nil, err
	}
	removal := awscdk.RemovalPolicy_DESTROY
	if cfg.Prod() {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	return &bulkprovStack{stack: stack, cfg: cfg, props: props, retention: retention, removal: removal}, nil
}

// addBuckets defines the uploads, jobs, provisioning and portal-site
// buckets, all private and logging to the access-logs bucket.
func (s *bulkprovStack) addBuckets() {
	stack, cfg, removal := s.stack, s.cfg, s.removal
	// CloudFront standard logs are delivered with ACLs, hence
	// BUCKET_OWNER_PREFERRED; S3 server access logs use the bucket policy.
	accessLogs := awss3.NewBucket(stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:         jsii.String("expire-logs"),
			Expiration: awscdk.Duration_Days(jsii.Number(cfg.AccessLogsExpireDays)),
		}},
		RemovalPolicy:     removal,
		AutoDeleteObjects: jsii.Bool(!cfg.Prod()),
	})
	privateBucket := func(id, logPrefix string, extra func(*awss3.BucketProps)) awss3.Bucket {
		p := &awss3.BucketProps{
			BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
			Encryption:             awss3.BucketEncryption_S3_MANAGED,
			EnforceSSL:             jsii.Bool(true),
			ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
			ServerAccessLogsBucket: accessLogs,
			ServerAccessLogsPrefix: jsii.String("s3/" + logPrefix + "/"),
			RemovalPolicy:          removal,
			AutoDeleteObjects:      jsii.Bool(!cfg.Prod()),
		}
		if extra != nil {
			extra(p)
		}
		return awss3.NewBucket(stack, jsii.String(id), p)
	}

	uploads := privateBucket("Uploads", "uploads", func(p *awss3.BucketProps) {
		p.Versioned = jsii.Bool(true)
		p.LifecycleRules = &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-uploads"),
			Prefix:                              jsii.String(uploadsPrefix),
			Expiration:                          awscdk.Duration_Days(jsii.Number(cfg.UploadsExpireDays)),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(cfg.NoncurrentVersionsExpireDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}, {
			// Expired current versions leave delete markers behind.
			Id:                          jsii.String("expire-noncurrent"),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(cfg.NoncurrentVersionsExpireDays)),
			ExpiredObjectDeleteMarker:   jsii.Bool(true),
		}}
	})
	jobs := privateBucket("Jobs", "jobs", func(p *awss3.BucketProps) {
		p.LifecycleRules = &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-jobs"),
			Prefix:                              jsii.String(jobsPrefix),
			Expiration:                          awscdk.Duration_Days(jsii.Number(cfg.JobsExpireDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}}
	})
	provisioning := privateBucket("Provisioning", "provisioning", nil)
	portalSite := privateBucket("PortalSite", "portal-site", nil)
	s.accessLogs, s.uploads, s.jobs, s.provisioning, s.portalSite = accessLogs, uploads, jobs, provisioning, portalSite
}

// addTable defines the one DynamoDB table.
func (s *bulkprovStack) addTable() {
	stack, cfg, removal := s.stack, s.cfg, s.removal
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("PK"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:      &awsdynamodb.Attribute{Name: jsii.String("SK"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection:  jsii.Bool(cfg.Prod()),
		TimeToLiveAttribute: jsii.String("ExpiresAt"),
		Encryption:          awsdynamodb.TableEncryption_AWS_MANAGED,
		RemovalPolicy:       removal,
		WarmThroughput:      tableWarmThroughput(cfg),
	})
	s.table = table
}

// addSecretsKey defines the KMS key for SIP secrets.
func (s *bulkprovStack) addSecretsKey() {
	stack, cfg, removal := s.stack, s.cfg, s.removal
	sipKey := awskms.NewKey(stack, jsii.String("SipSecretsKey"), &awskms.KeyProps{
		Description:       jsii.String("bulkprov " + cfg.Stage + ": envelope key for SIP secrets, PINs and portal credentials (encryption context: tenant)"),
		Alias:             jsii.String("alias/bulkprov-" + cfg.Stage + "-sip-secrets"),
		EnableKeyRotation: jsii.Bool(true),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
		RemovalPolicy:     removal,
	})
	// Every use must name a tenant in its encryption context, so a data key
	// made for one tenant can't be decrypted as another's.
	tenantContext := map[string]any{
		"ForAnyValue:StringEquals": map[string]any{"kms:EncryptionContextKeys": []string{"tenant"}},
	}
	bindKeyToCallerTenant(sipKey) // tenantboundary.go
	s.sipKey, s.tenantContext = sipKey, tenantContext
}

// addEmail defines the SES configuration set and sending identity.
func (s *bulkprovStack) addEmail() {
	stack, cfg := s.stack, s.cfg
	configSet := awsses.NewConfigurationSet(stack, jsii.String("MailConfigurationSet"), &awsses.ConfigurationSetProps{
		ConfigurationSetName: jsii.String(cfg.SESConfigurationSet),
		ReputationMetrics:    jsii.Bool(true),
		SuppressionReasons:   awsses.SuppressionReasons_BOUNCES_AND_COMPLAINTS,
		TlsPolicy:            awsses.ConfigurationSetTlsPolicy_REQUIRE,
	})
	identity := awsses.NewEmailIdentity(stack, jsii.String("MailIdentity"), &awsses.EmailIdentityProps{
		Identity:         awsses.Identity_Domain(jsii.String(cfg.SESDomain)),
		ConfigurationSet: configSet,
	})
	configSetArn := stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("ses"),
		Resource:     jsii.String("configuration-set"),
		ResourceName: jsii.String(cfg.SESConfigurationSet),
	})
	sendEmailResources := []string{*identity.EmailIdentityArn(), *configSetArn}
	s.sendEmailResources = sendEmailResources
}

// addProvisioningEdge defines the CloudFront distribution phones fetch their
// provisioning files from, behind a per-device credential check.
func (s *bulkprovStack) addProvisioningEdge() error {
	stack, cfg, props, retention, removal := s.stack, s.cfg, s.props, s.retention, s.removal
	provisioning, accessLogs := s.provisioning, s.accessLogs
	credentials := awscloudfront.NewKeyValueStore(stack, jsii.String("ProvisioningCredentials"), &awscloudfront.KeyValueStoreProps{
		Comment: jsii.String("bulkprov " + cfg.Stage + ": <path> -> hmac1$<device key>; <path>/<mac> -> rotation generation"),
	})
	authFunction := awscloudfront.NewFunction(stack, jsii.String("ProvisioningAuth"), &awscloudfront.FunctionProps{
		Code:          awscloudfront.FunctionCode_FromFile(&awscloudfront.FileCodeOptions{FilePath: jsii.String(props.Paths.ViewerRequestCode)}),
		Runtime:       awscloudfront.FunctionRuntime_JS_2_0(),
		KeyValueStore: credentials,
		Comment:       jsii.String("bulkprov " + cfg.Stage + ": per-device HTTP Basic check for phone provisioning files"),
	})
	// A phone with the right credential asking for a file that doesn't exist
	// gets S3's 403 (OAC has no s3:ListBucket). It must get the same 401 as
	// an unknown tenant or a wrong credential, so a MAC's existence can't be
	// probed. CloudFront can't do that itself: custom error responses may
	// not answer 401 (CloudFormation allows 200, 400, 403-405, 414, 416,
	// 5xx), CloudFront Functions have no origin-response event and
	// viewer-response doesn't run when the origin answers >= 400. So the
	// S3 origin fails over on 403/404 to a tiny function URL (OAC-signed)
	// that answers exactly the viewer-request function's 401.
	refusal, err := newRefusalFunction(stack, cfg.Stage, props.Paths.RefusalBodyFile, retention, removal)
	if err != nil {
		return err
	}
	provisioningOrigin := awscloudfrontorigins.NewOriginGroup(&awscloudfrontorigins.OriginGroupProps{
		PrimaryOrigin:       awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(provisioning, nil),
		FallbackOrigin:      awscloudfrontorigins.FunctionUrlOrigin_WithOriginAccessControl(refusal.URL, nil),
		FallbackStatusCodes: &[]*float64{jsii.Number(403), jsii.Number(404)},
	})
	provisioningCDN := awscloudfront.NewDistribution(stack, jsii.String("ProvisioningDistribution"), &awscloudfront.DistributionProps{
		Comment: jsii.String("bulkprov " + cfg.Stage + " phone provisioning"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin: provisioningOrigin,
			// HTTPS only, not a redirect: a redirect would accept the
			// phone's Basic credentials over plain HTTP first.
			ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
			AllowedMethods:       awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			// Files change when a user is re-provisioned; phones fetch
			// rarely, so freshness beats caching.
			CachePolicy: awscloudfront.CachePolicy_CACHING_DISABLED(),
			FunctionAssociations: &[]*awscloudfront.FunctionAssociation{{
				Function:  authFunction,
				EventType: awscloudfront.FunctionEventType_VIEWER_REQUEST,
			}},
		},
		HttpVersion:   awscloudfront.HttpVersion_HTTP2_AND_3,
		EnableLogging: jsii.Bool(true),
		LogBucket:     accessLogs,
		LogFilePrefix: jsii.String("cloudfront/provisioning/"),
	})
	provisioningURL := "https://" + *provisioningCDN.DistributionDomainName()
	s.credentials, s.provisioningCDN, s.provisioningURL = credentials, provisioningCDN, provisioningURL
	return nil
}

// addPortalEdge defines the CloudFront distribution of the portal's page.
func (s *bulkprovStack) addPortalEdge() {
	stack, cfg, portalSite, accessLogs, uploads := s.stack, s.cfg, s.portalSite, s.accessLogs, s.uploads
	portalCDN := awscloudfront.NewDistribution(stack, jsii.String("PortalDistribution"), &awscloudfront.DistributionProps{
		Comment: jsii.String("bulkprov " + cfg.Stage + " tenant portal"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(portalSite, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_GET_HEAD(),
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
		},
		DefaultRootObject: jsii.String("index.html"),
		HttpVersion:       awscloudfront.HttpVersion_HTTP2_AND_3,
		EnableLogging:     jsii.Bool(true),
		LogBucket:         accessLogs,
		LogFilePrefix:     jsii.String("cloudfront/portal/"),
	})
	portalURL := "https://" + *portalCDN.DistributionDomainName()
	// The hosted UI compares redirect URIs exactly; the page uses its own
	// root URL (web/portal/README.md).
	portalRootURL := portalURL + "/"

	// The portal uploads with presigned PUTs straight from the browser.
	uploads.AddCorsRule(&awss3.CorsRule{
		AllowedMethods: &[]awss3.HttpMethods{awss3.HttpMethods_PUT},
		AllowedOrigins: jsii.Strings(portalURL),
		AllowedHeaders: jsii.Strings("*"),
		ExposedHeaders: jsii.Strings("ETag"),
		MaxAge:         jsii.Number(3000),
	})
	s.portalCDN, s.portalURL, s.portalRootURL = portalCDN, portalURL, portalRootURL
}

// addFunctions defines the Go Lambdas, each with exactly the calls it makes,
// and starts ingest on every uploaded CSV.
func (s *bulkprovStack) addFunctions() error {
	if err := s.functionSettings(); err != nil {
		return err
	}
	s.addIngest()
	s.addCreateRecords()
	s.addWriteProvisioning()
	s.addSendWelcome()
	s.addFinalize()
	s.addPortalFunction()
	stack, defaults, table, sipKey, tenantContext := s.stack, s.defaults, s.table, s.sipKey, s.tenantContext
	// The softswitch read path (infra/softswitch.go).
	if _, err := addSoftswitchLookup(stack, defaults, table, sipKey, tenantContext); err != nil {
		return err
	}

	uploads, ingest := s.uploads, s.ingest
	uploads.AddEventNotification(awss3.EventType_OBJECT_CREATED, awss3notifications.NewLambdaDestination(ingest.Function),
		&awss3.NotificationKeyFilter{Prefix: jsii.String(uploadsPrefix), Suffix: jsii.String(".csv")})
	return nil
}

// functionSettings are what every function shares and the ARNs their
// grants name.
func (s *bulkprovStack) functionSettings() error {
	stack, cfg, props, retention, removal := s.stack, s.cfg, s.props, s.retention, s.removal
	table, uploads, jobs := s.table, s.uploads, s.jobs
	defaults := functionDefaults{Stage: cfg.Stage, AssetDir: props.Paths.LambdaAssetDir, Retention: retention, Removal: removal}
	stateMachineName := "bulkprov-" + cfg.Stage
	stateMachineArn := *stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("states"),
		Resource:     jsii.String("stateMachine"),
		ResourceName: jsii.String(stateMachineName),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	tableArn := *table.TableArn()
	uploadsObjects := *uploads.ArnForObjects(jsii.String(uploadsPrefix + "*"))
	jobObjects := *jobs.ArnForObjects(jsii.String(jobsPrefix + "*"))

	// The workflow steps' timeouts come from their Tasks in the ASL file.
	timeouts, err := stepTimeouts(props.Paths.StateMachineFile)
	if err != nil {
		return err
	}
	s.defaults, s.stateMachineName, s.stateMachineArn, s.timeouts = defaults, stateMachineName, stateMachineArn, timeouts
	s.tableArn, s.uploadsObjects, s.jobObjects = tableArn, uploadsObjects, jobObjects
	return nil
}

// env is a function's environment from name, value pairs.
func env(kv ...string) map[string]*string {
	m := map[string]*string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = jsii.String(kv[i+1])
	}
	return m
}

// addIngest defines the function that validates an upload and starts the
// workflow.
func (s *bulkprovStack) addIngest() {
	stack, cfg, removal, defaults := s.stack, s.cfg, s.removal, s.defaults
	table, uploads, jobs, sipKey, tenantContext := s.table, s.uploads, s.jobs, s.sipKey, s.tenantContext
	tableArn, uploadsObjects, jobObjects, stateMachineArn := s.tableArn, s.uploadsObjects, s.jobObjects, s.stateMachineArn
	ingest := newGoFunction(stack, "Ingest", defaults, functionSpec{
		Name: "ingest", Description: "Validates an uploaded CSV and starts the workflow",
		MemoryMiB: 1024, TimeoutSec: 300,
		Env: env("TABLE_NAME", *table.TableName(), "UPLOADS_BUCKET", *uploads.BucketName(),
			"JOBS_BUCKET", *jobs.BucketName(), "STATE_MACHINE_ARN", stateMachineArn, "KMS_KEY_ID", *sipKey.KeyArn()),
	})
	ingest.allow("ReadUploads", []string{"s3:GetObject", "s3:GetObjectVersion"}, []string{uploadsObjects}, nil)
	ingest.allow("WriteJobFiles", []string{"s3:GetObject", "s3:PutObject"}, []string{jobObjects}, nil)
	// Jobs that end without a workflow are finalized in ingest, which lists
	// their results/ and emails/ prefixes.
	ingest.allow("ListJobFiles", []string{"s3:ListBucket"}, []string{*jobs.BucketArn()},
		map[string]any{"StringLike": map[string]any{"s3:prefix": []string{jobsPrefix + "*"}}})
	ingest.allow("TableAccess", []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}, []string{tableArn}, nil)
	ingest.allow("StartWorkflow", []string{"states:StartExecution"}, []string{stateMachineArn}, nil)
	// Secrets imported from another PBX's export (import-secrets) are sealed at ingest.
	ingest.allow("SealImportedSecrets", []string{"kms:GenerateDataKey"}, []string{*sipKey.KeyArn()}, tenantContext)
	// S3 events ingest still fails after Lambda's retries land in a queue.
	ingestFailed := addIngestFailureDestination(stack, ingest, cfg.Stage, removal)
	s.ingest, s.ingestFailed = ingest, ingestFailed
}

// addCreateRecords defines the workflow step that writes a row's records.
func (s *bulkprovStack) addCreateRecords() {
	stack, cfg, defaults, timeouts := s.stack, s.cfg, s.defaults, s.timeouts
	table, jobs, sipKey, tenantContext, tableArn, jobObjects := s.table, s.jobs, s.sipKey, s.tenantContext, s.tableArn, s.jobObjects
	createRecords := newGoFunction(stack, "CreateRecords", defaults, functionSpec{
		Name: "create-records", Description: "Writes each row's PBX objects in one DynamoDB transaction",
		MemoryMiB: 512, TimeoutSec: timeouts[subCreateRecords], Reserved: cfg.CreateRecordsReservedConcurrency,
		Env: env("TABLE_NAME", *table.TableName(), "JOBS_BUCKET", *jobs.BucketName(), "KMS_KEY_ID", *sipKey.KeyArn()),
	})
	// TransactWriteItems is authorized per item action.
	createRecords.allow("TableAccess", []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem"}, []string{tableArn}, nil)
	createRecords.allow("SealSecrets", []string{"kms:GenerateDataKey"}, []string{*sipKey.KeyArn()}, tenantContext)
	createRecords.allow("WriteResults", []string{"s3:PutObject"}, []string{jobObjects}, nil)
	s.createRecords = createRecords
}

// addWriteProvisioning defines the workflow step that writes phones'
// provisioning files.
func (s *bulkprovStack) addWriteProvisioning() {
	stack, defaults, timeouts, provisioningURL := s.stack, s.defaults, s.timeouts, s.provisioningURL
	table, jobs, provisioning, sipKey, tenantContext := s.table, s.jobs, s.provisioning, s.sipKey, s.tenantContext
	tableArn, jobObjects := s.tableArn, s.jobObjects
	writeProvisioning := newGoFunction(stack, "WriteProvisioning", defaults, functionSpec{
		Name: "write-provisioning", Description: "Writes the desk phones' provisioning files",
		MemoryMiB: 512, TimeoutSec: timeouts[subWriteProvisioning],
		Env: env("TABLE_NAME", *table.TableName(), "JOBS_BUCKET", *jobs.BucketName(),
			"PROVISIONING_BUCKET", *provisioning.BucketName(), "KMS_KEY_ID", *sipKey.KeyArn(),
			"PROVISIONING_URL", provisioningURL),
	})
	writeProvisioning.allow("TableRead", []string{"dynamodb:GetItem", "dynamodb:BatchGetItem"}, []string{tableArn}, nil)
	writeProvisioning.allow("OpenSecrets", []string{"kms:Decrypt"}, []string{*sipKey.KeyArn()}, tenantContext)
	writeProvisioning.allow("WriteProvisioningFiles", []string{"s3:PutObject"}, []string{*provisioning.ArnForObjects(jsii.String("*"))}, nil)
	writeProvisioning.allow("UpdateResults", []string{"s3:GetObject", "s3:PutObject"}, []string{jobObjects}, nil)
	s.writeProvisioning = writeProvisioning
}

// addSendWelcome defines the workflow step that sends welcome emails.
func (s *bulkprovStack) addSendWelcome() {
	stack, cfg, defaults, timeouts := s.stack, s.cfg, s.defaults, s.timeouts
	table, jobs, sipKey, tenantContext, tableArn, jobObjects := s.table, s.jobs, s.sipKey, s.tenantContext, s.tableArn, s.jobObjects
	sendEmailResources := s.sendEmailResources
	sendWelcome := newGoFunction(stack, "SendWelcome", defaults, functionSpec{
		Name: "send-welcome", Description: "Sends each created user's welcome email once (SES v2)",
		MemoryMiB: 256, TimeoutSec: timeouts[subSendWelcome], Reserved: cfg.SendWelcomeReservedConcurrency,
		Env: env("TABLE_NAME", *table.TableName(), "JOBS_BUCKET", *jobs.BucketName(), "KMS_KEY_ID", *sipKey.KeyArn()),
	})
	sendWelcome.allow("TableAccess", []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:PartiQLUpdate"}, []string{tableArn}, nil)
	sendWelcome.allow("OpenSecrets", []string{"kms:Decrypt"}, []string{*sipKey.KeyArn()}, tenantContext)
	sendWelcome.allow("SendEmail", []string{"ses:SendEmail"}, sendEmailResources, nil)
	// GetAccount (the account's send quota and rate) has no resource type,
	// so IAM only accepts "*" for it.
	sendWelcome.allow("ReadSendQuota", []string{"ses:GetAccount"}, []string{"*"}, nil)
	sendWelcome.allow("JobFiles", []string{"s3:GetObject", "s3:PutObject"}, []string{jobObjects}, nil)
	s.sendWelcome = sendWelcome
}

// addFinalize defines the workflow step that writes a job's report.
func (s *bulkprovStack) addFinalize() {
	stack, defaults, timeouts := s.stack, s.defaults, s.timeouts
	table, jobs, tableArn, jobObjects := s.table, s.jobs, s.tableArn, s.jobObjects
	finalize := newGoFunction(stack, "Finalize", defaults, functionSpec{
		Name: "finalize", Description: "Merges batch results into the job's report and summary",
		MemoryMiB: 512, TimeoutSec: timeouts[subFinalize],
		Env: env("TABLE_NAME", *table.TableName(), "JOBS_BUCKET", *jobs.BucketName()),
	})
	finalize.allow("JobFiles", []string{"s3:GetObject", "s3:PutObject"}, []string{jobObjects}, nil)
	finalize.allow("ListJobFiles", []string{"s3:ListBucket"}, []string{*jobs.BucketArn()},
		map[string]any{"StringLike": map[string]any{"s3:prefix": []string{jobsPrefix + "*"}}})
	finalize.allow("TableAccess", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, []string{tableArn}, nil)
	s.finalize = finalize
}

// addPortalFunction defines the function behind the portal's HTTP API.
func (s *bulkprovStack) addPortalFunction() {
	stack, defaults := s.stack, s.defaults
	table, uploads, jobs, sipKey, tenantContext := s.table, s.uploads, s.jobs, s.sipKey, s.tenantContext
	tableArn, uploadsObjects, jobObjects, sendEmailResources := s.tableArn, s.uploadsObjects, s.jobObjects, s.sendEmailResources
	portalAPI := newGoFunction(stack, "PortalApi", defaults, functionSpec{
		Name: "portal-api", Description: "The tenant portal's HTTP API",
		MemoryMiB: 256, TimeoutSec: 29,
		Env: env("TABLE_NAME", *table.TableName(), "UPLOADS_BUCKET", *uploads.BucketName(),
			"JOBS_BUCKET", *jobs.BucketName(), "KMS_KEY_ID", *sipKey.KeyArn()),
	})
	// PutObject only to presign tenant uploads; the tenant comes from the
	// JWT claim, and ingest re-derives it from the key.
	portalAPI.allow("PresignUploads", []string{"s3:PutObject"}, []string{uploadsObjects}, nil)
	// Job files: reads, and the email outcomes and refreshed report of the
	// welcome emails an admin releases or resends from the job view.
	portalAPI.allow("JobFiles", []string{"s3:GetObject", "s3:PutObject"}, []string{jobObjects}, nil)
	// Progress: counts a running job's result objects.
	portalAPI.allow("ListJobFiles", []string{"s3:ListBucket"}, []string{*jobs.BucketArn()},
		map[string]any{"StringLike": map[string]any{"s3:prefix": []string{jobsPrefix + "*"}}})
	// Reads; the tenant's settings item (settings page); the email ledger,
	// invites and job counts of released emails (the send-welcome path).
	portalAPI.allow("TableAccess", []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
		"dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem"}, []string{tableArn}, nil)
	portalAPI.allow("OpenSecrets", []string{"kms:Decrypt"}, []string{*sipKey.KeyArn()}, tenantContext)
	portalAPI.allow("SendEmail", []string{"ses:SendEmail"}, sendEmailResources, nil)
	portalAPI.allow("ReadSendQuota", []string{"ses:GetAccount"}, []string{"*"}, nil)
	allowTenantBudgets(portalAPI, tableArn) // tenantboundary.go
	s.portalAPI = portalAPI
}

// addWorkflow defines the state machine that runs the four steps, its log
// group and its failure alarm.
func (s *bulkprovStack) addWorkflow() {
	stack, props, retention, removal, stateMachineName := s.stack, s.props, s.retention, s.removal, s.stateMachineName
	createRecords, writeProvisioning, sendWelcome, finalize := s.createRecords, s.writeProvisioning, s.sendWelcome, s.finalize
	smLogs := awslogs.NewLogGroup(stack, jsii.String("StateMachineLogs"), &awslogs.LogGroupProps{
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + stateMachineName),
		Retention:     retention,
		RemovalPolicy: removal,
	})
	smRole := s.workflowRole()

	stateMachine := awsstepfunctions.NewStateMachine(stack, jsii.String("Workflow"), &awsstepfunctions.StateMachineProps{
		StateMachineName: jsii.String(stateMachineName),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromFile(jsii.String(props.Paths.StateMachineFile), nil),
		DefinitionSubstitutions: &map[string]*string{
			subCreateRecords:     createRecords.Function.FunctionArn(),
			subWriteProvisioning: writeProvisioning.Function.FunctionArn(),
			subSendWelcome:       sendWelcome.Function.FunctionArn(),
			subFinalize:          finalize.Function.FunctionArn(),
		},
		Role: smRole,
		Logs: &awsstepfunctions.LogOptions{
			Destination: smLogs,
			Level:       awsstepfunctions.LogLevel_ALL,
			// Batches carry names, emails and phone numbers: keep them out
			// of the logs; execution data is in the jobs bucket.
			IncludeExecutionData: jsii.Bool(false),
		},
		TracingEnabled: jsii.Bool(true),
		RemovalPolicy:  removal,
	})
	stateMachine.MetricFailed(&awscloudwatch.MetricOptions{Period: awscdk.Duration_Minutes(jsii.Number(5))}).
		CreateAlarm(stack, jsii.String("WorkflowFailedAlarm"), &awscloudwatch.CreateAlarmOptions{
			AlarmDescription:   jsii.String(stateMachineName + ": an execution failed (finalize did not run or failed)"),
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
	s.smRole, s.stateMachine = smRole, stateMachine
}

// workflowRole is the state machine's role: invoke its steps, run its
// Distributed Map children, read job files.
func (s *bulkprovStack) workflowRole() awsiam.Role {
	stack, stateMachineName, stateMachineArn, jobs, jobObjects := s.stack, s.stateMachineName, s.stateMachineArn, s.jobs, s.jobObjects
	createRecords, writeProvisioning, sendWelcome, finalize := s.createRecords, s.writeProvisioning, s.sendWelcome, s.finalize
	executionsArn := func(suffix string) string {
		return *stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("states"),
			Resource:     jsii.String("execution"),
			ResourceName: jsii.String(stateMachineName + suffix),
			ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})
	}
	smRole := awsiam.NewRole(stack, jsii.String("StateMachineRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("bulkprov workflow: invoke its four steps, run its Distributed Map children, read job files"),
	})
	steps := []*goFunction{createRecords, writeProvisioning, sendWelcome, finalize}
	var invokeArns []string
	for _, f := range steps {
		invokeArns = append(invokeArns, *f.Function.FunctionArn(), *f.Function.FunctionArn()+":*")
	}
	smPolicy := func(sid string, actions, resources []string, conditions map[string]any) {
		p := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: jsii.Strings(resources...)}
		if conditions != nil {
			p.Conditions = &conditions
		}
		smRole.AddToPolicy(awsiam.NewPolicyStatement(p))
	}
	smPolicy("InvokeSteps", []string{"lambda:InvokeFunction"}, invokeArns, nil)
	// Distributed Map runs its children as executions of this state machine.
	smPolicy("StartChildExecutions", []string{"states:StartExecution"}, []string{stateMachineArn}, nil)
	smPolicy("ManageChildExecutions", []string{"states:DescribeExecution", "states:StopExecution"},
		[]string{executionsArn(":*"), executionsArn("/*")}, nil)
	smPolicy("ReadRows", []string{"s3:GetObject"}, []string{jobObjects}, nil)
	smPolicy("ListResults", []string{"s3:ListBucket"}, []string{*jobs.BucketArn()},
		map[string]any{"StringLike": map[string]any{"s3:prefix": []string{jobsPrefix + "*"}}})
	return smRole
}

// addPortalUsers defines the Cognito user pool of tenant admins, the
// portal's app client and its hosted sign-in domain.
func (s *bulkprovStack) addPortalUsers() {
	stack, cfg, removal, portalRootURL := s.stack, s.cfg, s.removal, s.portalRootURL
	userPool := awscognito.NewUserPool(stack, jsii.String("PortalUsers"), &awscognito.UserPoolProps{
		UserPoolName: jsii.String("bulkprov-" + cfg.Stage),
		// The operator creates tenant admins with their tenant; nobody
		// signs up (and so picks a tenant) on their own.
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			"tenant": awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				MinLen: jsii.Number(1), MaxLen: jsii.Number(32), Mutable: jsii.Bool(false),
			}),
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3)),
		},
		// Tenant admins can create phones and users for a whole tenant.
		Mfa:             awscognito.Mfa_REQUIRED,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		// Threat protection blocks risky sign-ins; Plus costs per active
		// user and tenant admins are few.
		FeaturePlan:                  awscognito.FeaturePlan_PLUS,
		StandardThreatProtectionMode: awscognito.StandardThreatProtectionMode_FULL_FUNCTION,
		DeletionProtection:           jsii.Bool(cfg.Prod()),
		RemovalPolicy:                removal,
	})
	userPoolClient := userPool.AddClient(jsii.String("PortalClient"), &awscognito.UserPoolClientOptions{
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		GenerateSecret:             jsii.Bool(false),
		PreventUserExistenceErrors: jsii.Bool(true),
		// The page signs in through the hosted UI: authorization code with
		// PKCE (a public client, so no secret and no implicit grant).
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL()},
			CallbackUrls: jsii.Strings(portalRootURL),
			LogoutUrls:   jsii.Strings(portalRootURL),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		ReadAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Email: jsii.Bool(true), EmailVerified: jsii.Bool(true), Fullname: jsii.Bool(true)}).
			WithCustomAttributes(jsii.String("tenant")),
		// custom:tenant is not writable by users: it is the tenant claim.
		WriteAttributes: awscognito.NewClientAttributes().
			WithStandardAttributes(&awscognito.StandardAttributesMask{Fullname: jsii.Bool(true)}),
		AccessTokenValidity: awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:     awscdk.Duration_Hours(jsii.Number(1)),
	})

	userPoolDomain := userPool.AddDomain(jsii.String("PortalSignIn"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(cfg.CognitoDomainPrefixFor(*stack.Account()))},
	})
	signInURL := *userPoolDomain.BaseUrl(nil)
	s.userPool, s.userPoolClient, s.signInURL = userPool, userPoolClient, signInURL
}

// addPortalAPI defines the portal's HTTP API: its stage, access logs and
// routes, each behind the Cognito authorizer.
func (s *bulkprovStack) addPortalAPI() {
	stack, cfg, retention, removal, portalURL := s.stack, s.cfg, s.retention, s.removal, s.portalURL
	userPool, userPoolClient, portalAPI := s.userPool, s.userPoolClient, s.portalAPI
	apiLogs := awslogs.NewLogGroup(stack, jsii.String("PortalApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	api := awsapigatewayv2.NewHttpApi(stack, jsii.String("PortalHttpApi"), &awsapigatewayv2.HttpApiProps{
		ApiName:            jsii.String("bulkprov-" + cfg.Stage + "-portal"),
		CreateDefaultStage: jsii.Bool(false),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(portalURL),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_PUT},
			AllowHeaders: jsii.Strings("authorization", "content-type"),
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		},
	})
	stage := awsapigatewayv2.NewHttpStage(stack, jsii.String("PortalHttpApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    api,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle:   &awsapigatewayv2.ThrottleSettings{RateLimit: jsii.Number(50), BurstLimit: jsii.Number(100)},
	})
	// Access logs through the L1: the L2's log settings take a jsii
	// interface Go can't build as a plain struct.
	stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: apiLogs.LogGroupArn(),
		Format: jsii.String(`{"requestId":"$context.requestId","time":"$context.requestTime","route":"$context.routeKey",` +
			`"status":"$context.status","latencyMs":"$context.responseLatency","ip":"$context.identity.sourceIp",` +
			`"tenant":"$context.authorizer.claims.custom:tenant","error":"$context.integrationErrorMessage"}`),
	})
	authorizer := awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(jsii.String("PortalAuthorizer"), userPool,
		&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{
			UserPoolClients: &[]awscognito.IUserPoolClient{userPoolClient},
		})
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("PortalApiIntegration"), portalAPI.Function, nil)
	addPortalSecurityHeaders(stack, cfg.Stage, s.portalCDN, s.signInURL) // tenantboundary.go
	for _, r := range portalRoutes() {
		api.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{r.Method},
			Integration: integration,
			Authorizer:  authorizer,
		})
	}
	s.apiStage = stage
}

// addDeployedFiles deploys the portal's page.
func (s *bulkprovStack) addDeployedFiles() {
	stack, props, portalSite, portalCDN, portalRootURL := s.stack, s.props, s.portalSite, s.portalCDN, s.portalRootURL
	stage, signInURL, userPoolClient := s.apiStage, s.signInURL, s.userPoolClient
	// The page and its config.json (web/portal/README.md); prune replaces
	// the previous version's files, the invalidation makes it visible.
	awss3deployment.NewBucketDeployment(stack, jsii.String("PortalSiteFiles"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: portalSite,
		Sources: &[]awss3deployment.ISource{
			awss3deployment.Source_Asset(jsii.String(props.Paths.PortalSiteDir), nil),
			awss3deployment.Source_JsonData(jsii.String("config.json"), portalConfig(*stage.Url(), signInURL, *userPoolClient.UserPoolClientId(), portalRootURL), nil),
		},
		Distribution:      portalCDN,
		DistributionPaths: jsii.Strings("/*"),
		Prune:             jsii.Bool(true),
		MemoryLimit:       jsii.Number(256),
	})
}

// addOutputs are the stack outputs the CLI and operators read.
func (s *bulkprovStack) addOutputs() {
	stack, accessLogs, uploads, jobs, provisioning, portalSite := s.stack, s.accessLogs, s.uploads, s.jobs, s.provisioning, s.portalSite
	table, sipKey, credentials, stateMachine, ingestFailed := s.table, s.sipKey, s.credentials, s.stateMachine, s.ingestFailed
	provisioningURL, portalURL, signInURL := s.provisioningURL, s.portalURL, s.signInURL
	stage, userPool, userPoolClient := s.apiStage, s.userPool, s.userPoolClient
	output := func(id, value, description string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(description)})
	}
	output("UploadsBucketName", *uploads.BucketName(), "Upload CSVs to s3://<this>/tenants/<tenant>/<name>.csv")
	output("JobsBucketName", *jobs.BucketName(), "Job rows, results, reports")
	output("ProvisioningBucketName", *provisioning.BucketName(), "Phone provisioning files (private; served by ProvisioningUrl)")
	output("PortalSiteBucketName", *portalSite.BucketName(), "Portal page files: web/portal/static and config.json, deployed by the stack")
	output("AccessLogsBucketName", *accessLogs.BucketName(), "S3 and CloudFront access logs")
	output("TableName", *table.TableName(), "DynamoDB table")
	output("StateMachineArn", *stateMachine.StateMachineArn(), "Workflow")
	output("IngestFailuresQueueUrl", *ingestFailed.Queue.QueueUrl(), "S3 events of uploads ingest gave up on (Lambda onFailure records, kept 14 days)")
	output("SipSecretsKeyArn", *sipKey.KeyArn(), "KMS key for SIP secrets")
	output("ProvisioningUrl", provisioningURL, "Phones fetch <this>/<tenant provisioning path>/<file> with their own Basic credential (bulkprov phone credential)")
	output("ProvisioningCredentialsStoreArn", *credentials.KeyValueStoreArn(), "CloudFront KeyValueStore of device credential keys: <path> = hmac1$<device key>, <path>/<mac> = generation (bulkprov phone kvs)")
	output("PortalUrl", portalURL, "Tenant portal")
	output("ApiUrl", *stage.Url(), "Portal HTTP API")
	output("UserPoolId", *userPool.UserPoolId(), "Cognito user pool of tenant admins (custom:tenant)")
	output("UserPoolClientId", *userPoolClient.UserPoolClientId(), "Portal app client (public, authorization code + PKCE)")
	output("UserPoolDomainUrl", signInURL, "Cognito hosted sign-in domain of the portal")
}

// acceptFindings records the accepted cdk-nag findings, each with its
// reason.
func (s *bulkprovStack) acceptFindings() {
	stack, provisioningCDN, portalCDN, smRole, stateMachineName := s.stack, s.provisioningCDN, s.portalCDN, s.smRole, s.stateMachineName
	ingest, createRecords, writeProvisioning, sendWelcome := s.ingest, s.createRecords, s.writeProvisioning, s.sendWelcome
	finalize, portalAPI := s.finalize, s.portalAPI
	except(provisioningCDN, distributionExceptions()...)
	except(portalCDN, distributionExceptions()...)
	except(ingest.Role, objectsUnder("Uploads", uploadsPrefix), objectsUnder("Jobs", jobsPrefix))
	except(createRecords.Role, objectsUnder("Jobs", jobsPrefix))
	except(writeProvisioning.Role, objectsUnder("Jobs", jobsPrefix), objectsUnder("Provisioning", ""))
	except(sendWelcome.Role, objectsUnder("Jobs", jobsPrefix), nagException{
		Rule:      "AwsSolutions-IAM5",
		Reason:    "ses:GetAccount (the account's send quota and rate, which paces the sender) supports no resource-level permissions; IAM requires Resource \"*\" for it.",
		AppliesTo: []string{`/^Resource::\*$/`},
	})
	except(finalize.Role, objectsUnder("Jobs", jobsPrefix))
	except(portalAPI.Role, objectsUnder("Uploads", uploadsPrefix), objectsUnder("Jobs", jobsPrefix), nagException{
		Rule:      "AwsSolutions-IAM5",
		Reason:    "ses:GetAccount (the send quota and rate that pace the emails an admin releases) supports no resource-level permissions; IAM requires Resource \"*\" for it.",
		AppliesTo: []string{`/^Resource::\*$/`},
	})
	except(smRole, objectsUnder("Jobs", jobsPrefix), nagException{
		Rule: "AwsSolutions-IAM5",
		Reason: "lambda:InvokeFunction on <function ARN>:* lets Step Functions invoke published versions and aliases of the four step functions only " +
			"(https://docs.aws.amazon.com/step-functions/latest/dg/lambda-iam.html).",
		AppliesTo: []string{`/^Resource::<(CreateRecords|WriteProvisioning|SendWelcome|Finalize)[0-9A-F]{8}\.Arn>:\*$/`},
	}, nagException{
		Rule: "AwsSolutions-IAM5",
		Reason: "A Distributed Map runs its children as executions of this state machine and must describe and stop them; " +
			"their names are generated, so the grant covers this state machine's executions only (execution:<name>:* and execution:<name>/*).",
		AppliesTo: []string{`/^Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:` + stateMachineName + `[:/]\*$/`},
	}, nagException{
		Rule: "AwsSolutions-IAM5",
		Reason: "Added by CDK for logging and tracing: X-Ray PutTraceSegments/PutTelemetryRecords/GetSampling* and CloudWatch Logs vended log delivery " +
			"(logs:CreateLogDelivery, ..., DescribeLogGroups) don't support resource-level permissions and require \"*\" " +
			"(https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy).",
		AppliesTo: []string{`/^Resource::\*$/`},
	})
	exceptGeneratedResources(stack)
}

// portalRoute is one route of the portal's HTTP API.
type portalRoute struct {
	Method awsapigatewayv2.HttpMethod
	Path   string
}

// portalRoutes are the routes of internal/portal's one route table.
func portalRoutes() []portalRoute {
	var out []portalRoute
	for _, r := range portal.Routes() {
		out = append(out, portalRoute{awsapigatewayv2.HttpMethod(r.Method), r.Path})
	}
	return out
}

// portalConfig is the page's config.json in Cognito mode
// (web/portal/README.md).
func portalConfig(apiURL, signInURL, clientID, redirectURI string) map[string]any {
	return map[string]any{
		"api": apiURL,
		"auth": map[string]any{
			"mode":         "cognito",
			"domain":       signInURL,
			"client_id":    clientID,
			"redirect_uri": redirectURI,
		},
	}
}
