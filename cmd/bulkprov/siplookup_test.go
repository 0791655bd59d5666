package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSIPLookupCommand: `bulkprov sip-lookup` creates a token file (0600),
// writes a Kamailio configuration for itself, serves the API with that
// token only, reuses the file on the next start and stops on interrupt.
func TestSIPLookupCommand(t *testing.T) {
	dir := t.TempDir()
	tokenFile, cfgFile := filepath.Join(dir, "token"), filepath.Join(dir, "kamailio.cfg")
	serveSIPLookupOnce(t, dir, tokenFile, cfgFile, "new bearer token written to "+tokenFile)
	serveSIPLookupOnce(t, dir, tokenFile, cfgFile, "bearer token read from "+tokenFile)

	// For the deployed API: the configuration only, no server.
	var out syncBuffer
	deployed := "https://abcdef.lambda-url.eu-west-1.on.aws/"
	if code := dispatch(context.Background(), []string{"sip-lookup", "--lookup-url", deployed, "--token-file", tokenFile,
		"--kamailio-cfg", cfgFile, "--sip-addr", "192.0.2.10"}, &out, &out); code != exitOK {
		t.Fatalf("--lookup-url: exit %d %s", code, out.String())
	}
	cfg, err := os.ReadFile(cfgFile)
	must(t, err)
	if !strings.Contains(string(cfg), `"https://abcdef.lambda-url.eu-west-1.on.aws/v1/sip/did?`) || !strings.Contains(string(cfg), "listen=udp:192.0.2.10:5060") {
		t.Errorf("config for the deployed URL:\n%s", cfg)
	}

	must(t, os.WriteFile(tokenFile, []byte("short\n"), 0o600))
	var stderr syncBuffer
	if code := dispatch(context.Background(), []string{"sip-lookup", "--token-file", tokenFile}, &syncBuffer{}, &stderr); code != exitUsage ||
		!strings.Contains(stderr.String(), "not a token") {
		t.Errorf("bad token file: exit %d %s", code, stderr.String())
	}
}

// serveSIPLookupOnce starts `bulkprov sip-lookup` with the token file and
// a Kamailio configuration, checks what it printed (wantTokenLine), the
// token file, the configuration and the API's answers to right and wrong
// tokens, then interrupts it and checks it stops with exit 0.
func serveSIPLookupOnce(t *testing.T, dir, tokenFile, cfgFile, wantTokenLine string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"sip-lookup", "--addr", "127.0.0.1:0", "--state", filepath.Join(dir, "state"),
			"--token-file", tokenFile, "--kamailio-cfg", cfgFile, "--sip-port", "25062", "--trunk-port", "25072"}, &stdout, &stderr)
	}()
	base := waitServing(t, &stdout, &stderr, done)
	if !strings.Contains(stdout.String(), wantTokenLine) {
		t.Errorf("stdout %q lacks %q", stdout.String(), wantTokenLine)
	}
	raw, err := os.ReadFile(tokenFile)
	must(t, err)
	token := strings.TrimSpace(string(raw))
	if st, _ := os.Stat(tokenFile); st.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", st.Mode().Perm())
	}
	if strings.Contains(stdout.String(), token) {
		t.Error("the token file's token printed")
	}
	cfg, err := os.ReadFile(cfgFile)
	must(t, err)
	if !strings.Contains(string(cfg), base+"/v1/sip/auth?") || !strings.Contains(string(cfg), "Bearer "+token) || !strings.Contains(string(cfg), "listen=udp:127.0.0.1:25062") {
		t.Errorf("kamailio.cfg does not use this server and token")
	}
	for auth, want := range map[string]int{"Bearer " + token: http.StatusNotFound, "": http.StatusUnauthorized, "Bearer " + strings.Repeat("x", 43): http.StatusUnauthorized} {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/sip/auth?user=100-acme&realm=sip.acme.pbx.example", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		res, err := http.DefaultClient.Do(req)
		must(t, err)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("Authorization %.12q: %d, want %d", auth, res.StatusCode, want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("did not stop")
	}
}

// waitServing waits until the command prints the URL it serves at and
// returns it; it fails when the command exits first or within 3 minutes.
func waitServing(t *testing.T, stdout, stderr *syncBuffer, done <-chan int) string {
	t.Helper()
	re := regexp.MustCompile(`at (http://127\.0\.0\.1:[0-9]+) `)
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case code := <-done:
			t.Fatalf("exited %d: %s %s", code, stdout.String(), stderr.String())
		default:
		}
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("not serving: %s %s", stdout.String(), stderr.String())
	return ""
}
