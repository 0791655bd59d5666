package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func TestStageConfigFromContext(t *testing.T) {
	base := cdkContext(t)
	tests := []struct {
		name      string
		overrides map[string]any
		wantErr   string
		check     func(t *testing.T, c StageConfig)
	}{
		{name: "dev from cdk.json", overrides: map[string]any{"stage": "dev"}, check: func(t *testing.T, c StageConfig) {
			if c.Prod() || c.SESConfigurationSet != "bulkprov-dev" || c.SESDomain == "" || c.LogRetentionDays == 0 {
				t.Errorf("dev config %+v", c)
			}
		}},
		{name: "prod from cdk.json", overrides: map[string]any{"stage": "prod"}, check: func(t *testing.T, c StageConfig) {
			if !c.Prod() || c.SESConfigurationSet != "bulkprov-prod" || c.CreateRecordsReservedConcurrency == 0 || c.SendWelcomeReservedConcurrency == 0 {
				t.Errorf("prod config %+v", c)
			}
		}},
		{name: "command-line strings override numbers and names",
			overrides: map[string]any{"stage": "dev", "sesDomain": "mail.acme.example", "logRetentionDays": "30", "sendWelcomeReservedConcurrency": "4"},
			check: func(t *testing.T, c StageConfig) {
				if c.SESDomain != "mail.acme.example" || c.LogRetentionDays != 30 || c.SendWelcomeReservedConcurrency != 4 {
					t.Errorf("overrides not applied: %+v", c)
				}
			}},
		{name: "unknown stage has no domain", overrides: map[string]any{"stage": "qa"}, wantErr: "context sesDomain"},
		{name: "stage name", overrides: map[string]any{"stage": "Prod-1"}, wantErr: "context stage"},
		{name: "domain", overrides: map[string]any{"stage": "dev", "sesDomain": "not a domain"}, wantErr: "context sesDomain"},
		{name: "configuration set", overrides: map[string]any{"stage": "dev", "sesConfigurationSet": "a b"}, wantErr: "context sesConfigurationSet"},
		{name: "negative concurrency", overrides: map[string]any{"stage": "dev", "createRecordsReservedConcurrency": "-1"}, wantErr: "createRecordsReservedConcurrency"},
		{name: "zero days", overrides: map[string]any{"stage": "dev", "jobsExpireDays": 0}, wantErr: "jobsExpireDays"},
		{name: "cognito prefix defaults to stage and account", overrides: map[string]any{"stage": "dev"}, check: func(t *testing.T, c StageConfig) {
			if c.CognitoDomainPrefix != "" || c.CognitoDomainPrefixFor("123456789012") != "bulkprov-dev-123456789012" {
				t.Errorf("default prefix %q / %q", c.CognitoDomainPrefix, c.CognitoDomainPrefixFor("123456789012"))
			}
		}},
		{name: "cognito prefix from the command line stays a string", overrides: map[string]any{"stage": "dev", "cognitoDomainPrefix": "12345"},
			check: func(t *testing.T, c StageConfig) {
				if c.CognitoDomainPrefixFor("123456789012") != "12345" {
					t.Errorf("prefix %q, want 12345", c.CognitoDomainPrefix)
				}
			}},
		{name: "cognito prefix uppercase", overrides: map[string]any{"stage": "dev", "cognitoDomainPrefix": "Acme-Signin"}, wantErr: "context cognitoDomainPrefix"},
		{name: "cognito prefix leading hyphen", overrides: map[string]any{"stage": "dev", "cognitoDomainPrefix": "-acme"}, wantErr: "context cognitoDomainPrefix"},
		{name: "cognito prefix too long", overrides: map[string]any{"stage": "dev", "cognitoDomainPrefix": strings.Repeat("a", 64)}, wantErr: "context cognitoDomainPrefix"},
		{name: "cognito prefix reserved word", overrides: map[string]any{"stage": "dev", "cognitoDomainPrefix": "acme-cognito"}, wantErr: "reserves"},
		{name: "default prefix with a reserved word in the stage", overrides: map[string]any{"stage": "aws", "sesDomain": "mail.example.com"}, wantErr: "bulkprov-<stage>-<account id>"},
		{name: "not a number", overrides: map[string]any{"stage": "dev", "jobsExpireDays": "soon"}, wantErr: "bulkprov:stages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := map[string]any{}
			for k, v := range base {
				ctx[k] = v
			}
			for k, v := range tt.overrides {
				ctx[k] = v
			}
			app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
			c, err := stageConfigFromContext(app.Node())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRetentionDays(t *testing.T) {
	for days, ok := range map[int]bool{1: true, 14: true, 365: true, 3653: true, 0: false, 2: false, 31: false} {
		_, err := retentionDays(days)
		if (err == nil) != ok {
			t.Errorf("retentionDays(%d) error %v, want ok=%v", days, err, ok)
		}
	}
}

func TestProjectRootFindsCDKJSON(t *testing.T) {
	root, err := projectRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cdk.json")); err != nil {
		t.Errorf("root %s: %v", root, err)
	}
	for _, p := range []string{defaultPaths(root).StateMachineFile, defaultPaths(root).ViewerRequestCode} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("asset %s: %v", p, err)
		}
	}
}
