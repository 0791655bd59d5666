package softswitch_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/internal/softswitch"
)

func validKamailio() softswitch.KamailioConfig {
	return softswitch.KamailioConfig{Address: "127.0.0.1", Port: 5060, Transports: []string{"udp", "tcp"}, TrunkPort: 5070,
		LookupURL: "https://abc.lambda-url.eu-west-1.on.aws", Token: strings.Repeat("A", 43), CacheTTL: 30 * time.Second, Debug: 2}
}

func TestRenderKamailio(t *testing.T) {
	cfg, err := softswitch.RenderKamailio(validKamailio())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"listen=udp:127.0.0.1:5060\n", "listen=tcp:127.0.0.1:5060\n", "listen=udp:127.0.0.1:5070\n", "$Rp == 5070",
		`"https://abc.lambda-url.eu-west-1.on.aws/v1/sip/auth?user=$(au{s.urlencode.param})&realm=$(ar{s.urlencode.param})"`,
		"Authorization: Bearer " + strings.Repeat("A", 43), "autoexpire=30;", `pv_auth_check("$var(realm)", "$var(ha1)", "1", "1")`,
	} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q", want)
		}
	}
	slash := validKamailio()
	slash.LookupURL += "/"
	if again, err := softswitch.RenderKamailio(slash); err != nil || string(again) != string(cfg) {
		t.Errorf("the function URL output's trailing slash: %v", err)
	}
	if strings.Contains(string(cfg), "<no value>") {
		t.Error("config has an unset template value")
	}

	for name, mutate := range map[string]func(*softswitch.KamailioConfig){
		"host name address":     func(c *softswitch.KamailioConfig) { c.Address = "sip.example" },
		"same ports":            func(c *softswitch.KamailioConfig) { c.TrunkPort = c.Port },
		"port 0":                func(c *softswitch.KamailioConfig) { c.Port = 0 },
		"tls transport":         func(c *softswitch.KamailioConfig) { c.Transports = []string{"tls"} },
		"no transport":          func(c *softswitch.KamailioConfig) { c.Transports = nil },
		"URL with a query":      func(c *softswitch.KamailioConfig) { c.LookupURL += "/?x=1" },
		"URL with a pv":         func(c *softswitch.KamailioConfig) { c.LookupURL += "/$ru" },
		"URL with quote":        func(c *softswitch.KamailioConfig) { c.LookupURL = `http://x"y` },
		"short token":           func(c *softswitch.KamailioConfig) { c.Token = "abc" },
		"token with a quote":    func(c *softswitch.KamailioConfig) { c.Token = strings.Repeat("A", 40) + `"` },
		"sub-second cache":      func(c *softswitch.KamailioConfig) { c.CacheTTL = time.Millisecond },
		"modules dir w/ quote":  func(c *softswitch.KamailioConfig) { c.ModulesDir = `/x"` },
		"ftp lookup URL scheme": func(c *softswitch.KamailioConfig) { c.LookupURL = "ftp://x" },
	} {
		c := validKamailio()
		mutate(&c)
		if _, err := softswitch.RenderKamailio(c); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

// TestKamailioAcceptsConfig has Kamailio itself check the rendered file.
func TestKamailioAcceptsConfig(t *testing.T) {
	if _, err := exec.LookPath("kamailio"); err != nil {
		msg := "SKIPPED: kamailio is not installed (Debian package kamailio; bash .ci/install-deps)"
		fmt.Fprintf(os.Stderr, "\n!!! %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	c := validKamailio()
	c.Port, c.TrunkPort = 25060, 25070
	cfg, err := softswitch.RenderKamailio(c)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kamailio.cfg")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("kamailio", "-c", "-f", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "config file ok") {
		t.Fatalf("kamailio -c: %v\n%s", err, out)
	}
}

func TestTokens(t *testing.T) {
	a, err := softswitch.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := softswitch.NewToken()
	if a == b || !softswitch.ValidToken(a) || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	hs, err := softswitch.ParseTokenHashes(" " + softswitch.TokenHash(a) + " , " + softswitch.TokenHash(b) + ",")
	if err != nil || len(hs) != 2 {
		t.Fatalf("%v %v", hs, err)
	}
	if !hs.Accepts("Bearer "+a) || !hs.Accepts("Bearer "+b) || hs.Accepts("Bearer "+a+"x") || hs.Accepts(a) || hs.Accepts("bearer "+a) {
		t.Error("Accepts")
	}
	none, _ := softswitch.ParseTokenHashes("")
	if none.Accepts("Bearer " + a) {
		t.Error("an empty list accepted a token")
	}
	for _, bad := range []string{"abc", strings.Repeat("g", 64), a} {
		if _, err := softswitch.ParseTokenHashes(bad); err == nil {
			t.Errorf("%q parsed as a hash", bad)
		}
	}
}
