package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
)

// StageConfig is what differs between stages. It comes from cdk.json's
// context: the stage is `-c stage=dev|prod`, its values are under
// "bulkprov:stages".<stage>, and any value can be overridden on the command
// line with `-c <name>=<value>` (e.g. `-c sesDomain=mail.example.com`).
type StageConfig struct {
	Stage string `json:"-"`
	// SESDomain is the verified sending domain (an SES email identity).
	SESDomain string `json:"sesDomain"`
	// SESConfigurationSet names the configuration set every email uses.
	SESConfigurationSet string `json:"sesConfigurationSet"`
	// Reserved concurrency protects the dependency behind each function:
	// create-records → DynamoDB, send-welcome → the SES send rate. 0 = none
	// (new accounts whose concurrency limit is 10 can't reserve any).
	CreateRecordsReservedConcurrency int `json:"createRecordsReservedConcurrency"`
	SendWelcomeReservedConcurrency   int `json:"sendWelcomeReservedConcurrency"`
	LogRetentionDays                 int `json:"logRetentionDays"`
	UploadsExpireDays                int `json:"uploadsExpireDays"`
	NoncurrentVersionsExpireDays     int `json:"noncurrentVersionsExpireDays"`
	JobsExpireDays                   int `json:"jobsExpireDays"`
	AccessLogsExpireDays             int `json:"accessLogsExpireDays"`
	// CognitoDomainPrefix is the portal's hosted sign-in domain,
	// https://<prefix>.auth.<region>.amazoncognito.com. Prefixes are unique
	// per region across all AWS accounts, so the default (empty) is
	// bulkprov-<stage>-<account id>, the account filled in by
	// CloudFormation at deploy time; set it to choose a fixed name.
	CognitoDomainPrefix string `json:"cognitoDomainPrefix"`
}

// Prod reports whether resources are kept (RETAIN, deletion protection).
func (c StageConfig) Prod() bool { return c.Stage == "prod" }

// CognitoDomainPrefixFor returns the hosted UI domain prefix for a stack in
// account (a concrete id or the stack's account token).
func (c StageConfig) CognitoDomainPrefixFor(account string) string {
	if c.CognitoDomainPrefix != "" {
		return c.CognitoDomainPrefix
	}
	return "bulkprov-" + c.Stage + "-" + account
}

// stagesContextKey holds the per-stage defaults in cdk.json.
const stagesContextKey = "bulkprov:stages"

// Patterns for context values, compiled where used (no package state).
const (
	stageNamePattern = `^[a-z][a-z0-9]{0,15}$`
	domainPattern    = `^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`
	configSetPattern = `^[A-Za-z0-9_-]{1,64}$`
	// Cognito prefix domains: lowercase letters, digits and inner hyphens.
	cognitoPrefixPattern = `^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`
)

// cognitoReservedWords may not appear in a Cognito prefix domain.
func cognitoReservedWords() []string { return []string{"aws", "amazon", "cognito"} }

// stageConfigFromContext reads the stage's configuration from the
// construct tree's context.
func stageConfigFromContext(node constructs.Node) (StageConfig, error) {
	stage, _ := node.TryGetContext(strPtr("stage")).(string)
	if stage == "" {
		stage = "dev"
	}
	if !regexp.MustCompile(stageNamePattern).MatchString(stage) {
		return StageConfig{}, fmt.Errorf("context stage: %q is not a stage name (lowercase letters and digits, e.g. dev or prod)", stage)
	}

	values := map[string]any{}
	if all, ok := node.TryGetContext(strPtr(stagesContextKey)).(map[string]any); ok {
		if m, ok := all[stage].(map[string]any); ok {
			for k, v := range m {
				values[k] = v
			}
		}
	}
	// Command-line overrides: -c sesDomain=… arrives as a string.
	for _, key := range configKeys() {
		if v := node.TryGetContext(strPtr(key)); v != nil {
			values[key] = v
		}
	}
	raw, err := json.Marshal(values)
	if err != nil {
		return StageConfig{}, fmt.Errorf("context %s.%s: %w", stagesContextKey, stage, err)
	}
	cfg := StageConfig{Stage: stage, SESConfigurationSet: "bulkprov-" + stage}
	if err := json.Unmarshal(numbersFromStrings(raw), &cfg); err != nil {
		return StageConfig{}, fmt.Errorf("context %s.%s: %w", stagesContextKey, stage, err)
	}
	cfg.Stage = stage
	return cfg, cfg.validate()
}

func (c StageConfig) validate() error {
	if !regexp.MustCompile(domainPattern).MatchString(c.SESDomain) {
		return fmt.Errorf("context sesDomain: %q is not a domain name (set it in cdk.json %s.%s or with -c sesDomain=...)", c.SESDomain, stagesContextKey, c.Stage)
	}
	if !regexp.MustCompile(configSetPattern).MatchString(c.SESConfigurationSet) {
		return fmt.Errorf("context sesConfigurationSet: %q must be 1-64 letters, digits, '_' or '-'", c.SESConfigurationSet)
	}
	if err := validCognitoDomainPrefix(c); err != nil {
		return err
	}
	for name, v := range map[string]int{
		"createRecordsReservedConcurrency": c.CreateRecordsReservedConcurrency,
		"sendWelcomeReservedConcurrency":   c.SendWelcomeReservedConcurrency,
	} {
		if v < 0 || v > 1000 {
			return fmt.Errorf("context %s: %d is outside 0-1000", name, v)
		}
	}
	for name, v := range map[string]int{
		"logRetentionDays":             c.LogRetentionDays,
		"uploadsExpireDays":            c.UploadsExpireDays,
		"noncurrentVersionsExpireDays": c.NoncurrentVersionsExpireDays,
		"jobsExpireDays":               c.JobsExpireDays,
		"accessLogsExpireDays":         c.AccessLogsExpireDays,
	} {
		if v < 1 || v > 3653 {
			return fmt.Errorf("context %s: %d is outside 1-3653 days", name, v)
		}
	}
	return nil
}

// validCognitoDomainPrefix checks the explicit prefix, or the default's
// shape with a 12-digit account id standing in for the deploy-time one.
func validCognitoDomainPrefix(c StageConfig) error {
	prefix := c.CognitoDomainPrefixFor("123456789012")
	hint := "set -c cognitoDomainPrefix=... or cdk.json " + stagesContextKey + "." + c.Stage + ".cognitoDomainPrefix"
	if c.CognitoDomainPrefix == "" {
		hint = "the default is bulkprov-<stage>-<account id>; " + hint
	}
	if !regexp.MustCompile(cognitoPrefixPattern).MatchString(prefix) {
		return fmt.Errorf("context cognitoDomainPrefix: %q must be 1-63 lowercase letters, digits or inner hyphens (%s)", prefix, hint)
	}
	for _, word := range cognitoReservedWords() {
		if strings.Contains(prefix, word) {
			return fmt.Errorf("context cognitoDomainPrefix: %q contains %q, which Cognito reserves (%s)", prefix, word, hint)
		}
	}
	return nil
}

// configKeys lists StageConfig's context names.
func configKeys() []string {
	return []string{
		"sesDomain", "sesConfigurationSet",
		"createRecordsReservedConcurrency", "sendWelcomeReservedConcurrency",
		"logRetentionDays", "uploadsExpireDays", "noncurrentVersionsExpireDays",
		"jobsExpireDays", "accessLogsExpireDays", "cognitoDomainPrefix",
	}
}

// stringKeys are the context names whose values stay strings even when
// they look like numbers.
func stringKeys() map[string]bool {
	return map[string]bool{"sesDomain": true, "sesConfigurationSet": true, "cognitoDomainPrefix": true}
}

// numbersFromStrings turns `"12"` values into 12 so that numbers given on
// the command line (-c logRetentionDays=30, always strings) decode into ints.
func numbersFromStrings(raw []byte) []byte {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	text := stringKeys()
	for k, v := range m {
		if text[k] {
			continue
		}
		if s, ok := v.(string); ok {
			var n json.Number
			if json.Unmarshal([]byte(s), &n) == nil {
				m[k] = n
			}
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

func strPtr(s string) *string { return &s }
