package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func examplePath(name string) string {
	return filepath.Join("..", "..", "internal", "ingest", "testdata", "examples", name)
}

func TestRunValidate(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout
		err  string   // substring of stderr
	}{
		{"valid file", []string{"--tenant", "acme", examplePath("acme-users.csv")}, 0, []string{"6 rows: 6 valid, 0 invalid"}, ""},
		{"flags after file", []string{examplePath("excel-semicolon.csv"), "--tenant", "acme", "--dry-run"}, 0, []string{"4 rows: 4 valid"}, ""},
		{"invalid rows", []string{"--tenant", "acme", examplePath("with-errors.csv")}, 1, []string{
			"line 3, email: invalid_email: ", "line 4, extension: duplicate_in_file: extension 300 is already on line 2",
			"line 7, did: excel_mangled_number: looks like Excel", "9 rows: 1 valid, 8 invalid"}, ""},
		{"unusable file", []string{"--tenant", "acme", "testdata-does-not-exist.csv"}, 2, nil, "no such file"},
		{"invalid tenant", []string{"--tenant", "Acme", examplePath("acme-users.csv")}, 2, nil, "lowercase letters or digits"},
		{"missing tenant", []string{examplePath("acme-users.csv")}, 2, nil, "--tenant"},
		{"bad option", []string{"--tenant", "acme", "--welcome", "later", examplePath("acme-users.csv")}, 2, nil, "welcome: must be invite, password or none"},
		{"no file", []string{"--tenant", "acme"}, 2, nil, "exactly one FILE"},
		{"two files", []string{"--tenant", "acme", "a.csv", "b.csv"}, 2, nil, "exactly one FILE"},
		{"state without data", []string{"--tenant", "acme", "--state", "/nonexistent-state", examplePath("acme-users.csv")}, 2, nil, "holds no stored data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runValidate(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, &stdout, &stderr)
			}
			for _, s := range tt.out {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			if !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("stderr lacks %q: %s", tt.err, &stderr)
			}
		})
	}
}

func TestRunValidateJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runValidate(context.Background(), []string{"--json", "--tenant", "acme", examplePath("with-errors.csv")}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || string(got["rows"]) != "9" || string(got["valid"]) != "1" || string(got["invalid"]) != "8" {
		t.Fatalf("fields = %s", &stdout)
	}
	var errs []map[string]any
	if err := json.Unmarshal(got["errors"], &errs); err != nil || len(errs) != 8 || len(errs[0]) != 4 ||
		errs[0]["line"] != 3.0 || errs[0]["column"] != "email" || errs[0]["code"] != "invalid_email" {
		t.Fatalf("errors = %s (%v)", got["errors"], err)
	}
	if string(got["warnings"]) != "[]" {
		t.Errorf("warnings = %s", got["warnings"])
	}

	// A file-level error is in errors with line and an empty column.
	stdout.Reset()
	dir := t.TempDir()
	path := filepath.Join(dir, "noext.csv")
	if err := os.WriteFile(path, []byte("name,email\nAnn,a@b.c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runValidate(context.Background(), []string{"--tenant", "acme", "--json", path}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stdout.String(), `"code": "missing_column"`) || !strings.Contains(stdout.String(), `"line": 1`) {
		t.Errorf("file-level error output: %s", &stdout)
	}
}

func TestRunTemplateValidates(t *testing.T) {
	var tmpl, stderr bytes.Buffer
	if code := runTemplate(context.Background(), nil, &tmpl, &stderr); code != 0 {
		t.Fatalf("template exit %d: %s", code, &stderr)
	}
	if !strings.HasPrefix(tmpl.String(), "extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department\n") ||
		strings.Count(tmpl.String(), "\n") != 3 {
		t.Fatalf("template = %q", &tmpl)
	}
	path := filepath.Join(t.TempDir(), "template.csv")
	if err := os.WriteFile(path, tmpl.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if code := runValidate(context.Background(), []string{"--tenant", "acme", path}, &out, &stderr); code != 0 {
		t.Fatalf("the template does not validate: exit %d\n%s%s", code, &out, &stderr)
	}
	if code := runTemplate(context.Background(), []string{"extra"}, &tmpl, &stderr); code != 2 {
		t.Errorf("template with an argument: exit %d", code)
	}
}
