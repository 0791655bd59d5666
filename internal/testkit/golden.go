package testkit

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

// update is go test's -update flag for every package that compares golden
// files: `go test ./internal/welcome -update` rewrites them from the
// current output, then review the diff.
var update = flag.Bool("update", false, "rewrite golden files from the current output")

// Updating reports whether the test run rewrites golden files.
func Updating() bool { return *update }

// Golden compares got with the file at path, or rewrites the file with got
// when the run has -update.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run go test with -update and review the diff\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
