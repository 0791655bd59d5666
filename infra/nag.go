package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// nagException is one accepted cdk-nag finding and why. AppliesTo holds
// regular expressions (cdk-nag's /…/ syntax) over the finding's detail,
// because CDK puts hashed logical IDs into it.
type nagException struct {
	Rule      string
	Reason    string
	AppliesTo []string
}

// except records accepted findings on a construct and its children.
func except(c constructs.IConstruct, exceptions ...nagException) {
	var sups []*cdknag.NagPackSuppression
	for _, e := range exceptions {
		s := &cdknag.NagPackSuppression{Id: jsii.String(e.Rule), Reason: jsii.String(e.Reason)}
		if len(e.AppliesTo) > 0 {
			applies := make([]any, 0, len(e.AppliesTo))
			for _, re := range e.AppliesTo {
				applies = append(applies, &cdknag.RegexAppliesTo{Regex: jsii.String(re)})
			}
			s.AppliesTo = &applies
		}
		sups = append(sups, s)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &sups, jsii.Bool(true))
}

// Wildcards bulkprov accepts, each a key prefix or a documented service
// requirement. Logical IDs carry a hash suffix, hence the patterns.
func objectsUnder(bucketID, prefix string) nagException {
	return nagException{
		Rule: "AwsSolutions-IAM5",
		Reason: "Object keys under " + prefix + " are created per upload/job/phone and can't be listed in advance; " +
			"the grant is limited to that key prefix of one bucket and to the exact actions the function calls.",
		AppliesTo: []string{`/^Resource::<` + bucketID + `[0-9A-F]{8}\.Arn>\/` + regexpQuote(prefix) + `\*$/`},
	}
}

func regexpQuote(s string) string {
	out := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == '.' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// exceptStackWide records findings on constructs CDK creates itself.
func exceptGeneratedResources(stack awscdk.Stack) {
	// Singleton behind the BucketDeployment (it copies the portal page from
	// the CDK asset bucket at deploy time).
	for _, child := range *stack.Node().Children() {
		if !strings.HasPrefix(*child.Node().Id(), "Custom::CDKBucketDeployment") {
			continue
		}
		except(child, nagException{
			Rule: "AwsSolutions-L1",
			Reason: "CDK's BucketDeployment handler pins the Python runtime its bundled AWS CLI layer is built for; " +
				"it runs only during deployments and handles no tenant data.",
		}, nagException{
			Rule:      "AwsSolutions-IAM4",
			Reason:    "CDK's BucketDeployment handler comes with AWSLambdaBasicExecutionRole (its own logs); it is not one of bulkprov's functions and runs only at deploy time.",
			AppliesTo: []string{`/^Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/`},
		}, nagException{
			Rule: "AwsSolutions-IAM5",
			Reason: "CDK's BucketDeployment grant: read (s3:GetObject*, s3:GetBucket*, s3:List*) of the stack's CDK asset bucket and " +
				"write (s3:DeleteObject*, s3:Abort*, ...) to the portal site bucket's objects, which it syncs; " +
				"the CloudFront invalidation calls support no resource-level permission.",
			AppliesTo: []string{
				`/^Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort)\*$/`,
				`/^Resource::arn:<AWS::Partition>:s3:::cdk-[a-z0-9]+-assets-<AWS::AccountId>-<AWS::Region>\/\*$/`,
				`/^Resource::<PortalSite[0-9A-F]{8}\.Arn>\/\*$/`,
				`/^Resource::\*$/`,
			},
		})
	}
	// Singleton that applies S3 bucket notifications (a CDK custom resource).
	if handler := stack.Node().TryFindChild(jsii.String("BucketNotificationsHandler050a0587b7544547bf325f094a3db834")); handler != nil {
		except(handler, nagException{
			Rule: "AwsSolutions-IAM4",
			Reason: "CDK's BucketNotificationsHandler custom resource (it sets the uploads bucket's notification at deploy time) " +
				"comes with AWSLambdaBasicExecutionRole; it is not one of bulkprov's functions and handles no tenant data.",
			AppliesTo: []string{`/^Policy::arn:<AWS::Partition>:iam::aws:policy\/service-role\/AWSLambdaBasicExecutionRole$/`},
		})
	}
}

// distributionExceptions are the findings both distributions accept.
func distributionExceptions() []nagException {
	return []nagException{
		{Rule: "AwsSolutions-CFR1", Reason: "No geo restriction: tenants and their desk phones are worldwide; access is controlled per tenant credential (provisioning) and Cognito (portal)."},
		{Rule: "AwsSolutions-CFR2", Reason: "No WAF web ACL by default (cost per ACL and request); provisioning requests are authenticated at the edge by the viewer-request function, the portal is static files. An operator can attach a web ACL later."},
		{Rule: "AwsSolutions-CFR4", Reason: "The distribution uses the default *.cloudfront.net certificate, whose security policy CloudFront fixes; a minimum of TLSv1.2_2021 needs a custom domain with an ACM certificate, which is deployment-specific."},
	}
}
