package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestViewerRequestFunction runs the CloudFront Function's node tests
// (infra/cloudfront/provisioning-auth.test.mjs): right credential passes,
// wrong/unknown/malformed answer the same 401, code stays within
// cloudfront-js-2.0.
func TestViewerRequestFunction(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is required (it also runs jsii): %v", err)
	}
	out, err := exec.Command(node, "--test", "cloudfront/").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test cloudfront/: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") || strings.Contains(string(out), "# pass 0") {
		t.Errorf("unexpected node test summary:\n%s", out)
	}
}
