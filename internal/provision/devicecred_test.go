package provision

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDevicePasswordVectors pins the derivation; the CloudFront function's
// tests (infra/cloudfront/provisioning-auth.test.mjs) use the same vectors,
// so both sides compute the same password.
func TestDevicePasswordVectors(t *testing.T) {
	const key = "5f1c0ab3d2e4f6075f1c0ab3d2e4f6075f1c0ab3d2e4f6075f1c0ab3d2e4f607"
	for _, tt := range []struct {
		mac  string
		gen  int
		want string
	}{
		{"001565a1b2c3", 0, "078dbc859011c4b290df31a9db15871f"},
		{"001565a1b2c3", 1, "ccb0db18e733f61f4a2d43b085c6e4ed"},
		{"001565a1b2c4", 0, "40b7c48e16bf78c4485110113f669c15"},
	} {
		if got := DevicePassword(key, "acme", tt.mac, tt.gen); got != tt.want {
			t.Errorf("DevicePassword(%s, %d) = %s, want %s", tt.mac, tt.gen, got, tt.want)
		}
	}
	js, err := os.ReadFile("../../infra/cloudfront/provisioning-auth.test.mjs")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"078dbc859011c4b290df31a9db15871f", "ccb0db18e733f61f4a2d43b085c6e4ed", "40b7c48e16bf78c4485110113f669c15", key} {
		if !strings.Contains(string(js), v) {
			t.Errorf("the CloudFront function's tests do not use vector %s", v)
		}
	}
}

// TestServerAndEdgeShareThePatterns: the CloudFront function applies the
// local server's path, device-file and bootstrap patterns, character for
// character.
func TestServerAndEdgeShareThePatterns(t *testing.T) {
	js, err := os.ReadFile("../../infra/cloudfront/provisioning-auth.js")
	if err != nil {
		t.Fatal(err)
	}
	for name, re := range map[string]*regexp.Regexp{"PATH": requestPathRE, "DEVICE_FILE": deviceFileRE, "BOOTSTRAP": bootstrapFileRE} {
		m := regexp.MustCompile(`(?m)^const ` + name + ` = /(.*)/;$`).FindSubmatch(js)
		if m == nil {
			t.Errorf("provisioning-auth.js has no const %s", name)
			continue
		}
		if got := strings.ReplaceAll(string(m[1]), `\/`, `/`); got != re.String() {
			t.Errorf("%s: edge /%s/, server /%s/", name, got, re.String())
		}
	}
}
