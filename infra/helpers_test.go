package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close() // or the jsii kernel's temp folders leak
	os.Exit(code)
}

// functionNames are the six Lambdas, as the Makefile builds them.
func functionNames() []string {
	return []string{"ingest", "create-records", "write-provisioning", "send-welcome", "finalize", "portal-api"}
}

// synthesized is one stage's stack, synthesized with cdk.json's context and
// the AwsSolutions nag pack applied.
type synthesized struct {
	Stack    awscdk.Stack
	Template assertions.Template
	JSON     map[string]any // Template.ToJSON()
	Config   StageConfig
	Paths    Paths
}

// cdkContext is cdk.json's context (go test doesn't read cdk.json), with
// nag findings reported as annotations instead of failing the synth.
func cdkContext(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var doc struct {
		App     string         `json:"app"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse cdk.json: %v", err)
	}
	doc.Context["@aws-cdk/core:annotationsInValidationReport"] = false
	return doc.Context
}

// dummyAssets makes <dir>/<function>/bootstrap for every function, so the
// stack synthesizes before `make build`.
func dummyAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range append(functionNames(), softswitchFunctionNames()...) {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), []byte("#!/bin/sh\n# test asset: "+name+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// synth builds the stack for a stage; overrides are extra -c values.
func synth(t *testing.T, stage string, overrides map[string]any) *synthesized {
	t.Helper()
	ctx := cdkContext(t)
	ctx["stage"] = stage
	for k, v := range overrides {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	cfg, err := stageConfigFromContext(app.Node())
	if err != nil {
		t.Fatalf("stage config: %v", err)
	}
	root, err := projectRoot()
	if err != nil {
		t.Fatal(err)
	}
	paths := defaultPaths(root)
	paths.LambdaAssetDir = dummyAssets(t)
	stack, err := NewBulkprovStack(app, "Bulkprov-"+stage, &StackProps{Config: cfg, Paths: paths})
	if err != nil {
		t.Fatalf("NewBulkprovStack: %v", err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	tmpl := assertions.Template_FromStack(stack, nil)
	return &synthesized{Stack: stack, Template: tmpl, JSON: *tmpl.ToJSON(), Config: cfg, Paths: paths}
}

// check runs a CDK assertion, turning its panic into a test error.
func check(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s:\n%v", what, r)
		}
	}()
	assertion()
}

// resources returns the template's resources of a type by logical ID.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.JSON["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// resource returns the single resource of a type whose logical ID starts
// with prefix (CDK appends a hash).
func (s *synthesized) resource(t *testing.T, typ, prefix string) (string, map[string]any) {
	t.Helper()
	var found []string
	for id := range s.resources(typ) {
		if strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s %s*: found %v, want exactly one", typ, prefix, found)
	}
	return found[0], s.resources(typ)[found[0]]
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// statement is an IAM statement reduced to what the tests compare.
type statement struct {
	Sid        string
	Actions    []string
	Resources  string // JSON of Resource
	Conditions string // JSON of Condition, "" if none
}

// roleStatements returns every statement of the policies attached to the
// role whose logical ID starts with rolePrefix, by Sid.
func (s *synthesized) roleStatements(t *testing.T, rolePrefix string) map[string]statement {
	t.Helper()
	roleID, _ := s.resource(t, "AWS::IAM::Role", rolePrefix)
	out := map[string]statement{}
	for _, pol := range s.resources("AWS::IAM::Policy") {
		attached := false
		for _, r := range props(pol)["Roles"].([]any) {
			if ref, ok := r.(map[string]any)["Ref"]; ok && ref == roleID {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range props(pol)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			m := st.(map[string]any)
			if m["Effect"] != "Allow" {
				t.Errorf("%s: unexpected effect %v", rolePrefix, m["Effect"])
			}
			sid, _ := m["Sid"].(string)
			if _, dup := out[sid]; dup {
				t.Errorf("%s: two statements with Sid %q", rolePrefix, sid)
			}
			out[sid] = statement{Sid: sid, Actions: stringList(m["Action"]), Resources: jsonString(m["Resource"]), Conditions: jsonStringOrEmpty(m["Condition"])}
		}
	}
	return out
}

func stringList(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = []string{x}
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	}
	sort.Strings(out)
	return out
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func jsonStringOrEmpty(v any) string {
	if v == nil {
		return ""
	}
	return jsonString(v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func m(kv ...any) *map[string]any {
	out := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return &out
}

func arr(v ...any) *[]any { return &v }
