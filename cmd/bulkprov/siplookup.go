package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/softswitch"
	"github.com/bulkprov/bulkprov/internal/store"
)

const sipLookupUsage = `usage: bulkprov sip-lookup [--addr 127.0.0.1:8089] [--state DIR] [--token-file FILE] [flags]

Serves the softswitch read path (the same API the stack deploys as the
sip-lookup function URL) on the local stack's data: a SIP server asks it for
a phone's HA1, an extension's SIP user or a DID's inbound route with
"Authorization: Bearer <token>". See README "Wiring a softswitch".

The token is read from --token-file; when the file does not exist a new token
is generated and written there (mode 0600); without --token-file a new token
is printed. --kamailio-cfg FILE writes a ready Kamailio configuration that
uses this server (kamailio -DD -E -f FILE); with --lookup-url URL (e.g. the
stack's SipLookupUrl output) it writes the configuration for that URL and
exits without serving.

flags:
`

// runSIPLookup implements `bulkprov sip-lookup`.
func runSIPLookup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("sip-lookup", sipLookupUsage, stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "listen `address`")
	state := fs.String("state", "", "state `DIR` of the local stack (as for bulkprov run)")
	tokenFile := fs.String("token-file", "", "bearer token `FILE` (created with a new token if missing)")
	realms := fs.String("realm", "", "platform-wide digest `realms`, comma-separated, accepted besides each tenant's SIP domain")
	kamCfg := fs.String("kamailio-cfg", "", "write a Kamailio configuration using this server to `FILE`")
	sipAddr := fs.String("sip-addr", "127.0.0.1", "Kamailio's listen `IP` (with --kamailio-cfg)")
	sipPort := fs.Int("sip-port", 5060, "Kamailio's port for phones (with --kamailio-cfg)")
	trunkPort := fs.Int("trunk-port", 5070, "Kamailio's port for carriers' DID calls (with --kamailio-cfg)")
	transports := fs.String("transport", "udp,tcp", "Kamailio's transports for phones (with --kamailio-cfg)")
	cacheTTL := fs.Duration("cache-ttl", softswitch.DefaultCacheTTL, "how long Kamailio caches an answer (with --kamailio-cfg)")
	lookupURL := fs.String("lookup-url", "", "with --kamailio-cfg: write the configuration for this API `URL` and exit")
	if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
		return code
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "bulkprov sip-lookup: "+format+"\n", a...)
		return code
	}
	token, created, err := loadOrCreateToken(*tokenFile)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	writeCfg := func(base string) error {
		cfg, err := softswitch.RenderKamailio(softswitch.KamailioConfig{
			Address: *sipAddr, Port: *sipPort, TrunkPort: *trunkPort, Transports: splitList(*transports),
			LookupURL: base, Token: token, CacheTTL: *cacheTTL, Debug: 2,
		})
		if err != nil {
			return err
		}
		// The file holds the token: owner-only, like the token file.
		return os.WriteFile(*kamCfg, cfg, 0o600)
	}
	if *lookupURL != "" {
		if *kamCfg == "" || *tokenFile == "" {
			return fail(exitUsage, "--lookup-url needs --kamailio-cfg FILE and --token-file FILE (the token the deployed API accepts)")
		}
		if err := writeCfg(*lookupURL); err != nil {
			return fail(exitUsage, "%v", err)
		}
		fmt.Fprintf(stdout, "Kamailio configuration for %s written to %s\n", *lookupURL, *kamCfg)
		return exitOK
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	base := "http://" + ln.Addr().String()
	if *kamCfg != "" {
		if err := writeCfg(base); err != nil {
			_ = ln.Close()
			return fail(exitUsage, "%v", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: *state, Logger: log})
	if err != nil {
		_ = ln.Close()
		return fail(exitFailed, "%v", err)
	}
	defer stack.Close()

	h := newSIPLookupHandler(stack, splitList(*realms), []string{softswitch.TokenHash(token)}, log)
	fmt.Fprintf(stdout, "Serving the SIP lookup API at %s (GET /v1/sip/auth, /v1/sip/extension, /v1/sip/did)\n", base)
	switch {
	case *tokenFile == "":
		// Printed for local use only, like serve-provisioning's passwords.
		fmt.Fprintf(stdout, "  bearer token %s\n", token)
	case created:
		fmt.Fprintf(stdout, "  new bearer token written to %s\n", *tokenFile)
	default:
		fmt.Fprintf(stdout, "  bearer token read from %s\n", *tokenFile)
	}
	if *kamCfg != "" {
		fmt.Fprintf(stdout, "  Kamailio configuration written to %s: kamailio -DD -E -f %s\n", *kamCfg, *kamCfg)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	if err := serveUntilDone(ctx, srv, ln, 5*time.Second, func() {}); err != nil {
		return fail(exitFailed, "%v", err)
	}
	return exitOK
}

// newSIPLookupHandler is the read path on the local stack, wired as the
// sip-lookup function wires it in AWS.
func newSIPLookupHandler(stack *devstack.Stack, realms, tokenHashes []string, log *slog.Logger) *softswitch.Handler {
	tokens, err := softswitch.ParseTokenHashes(strings.Join(tokenHashes, ","))
	if err != nil {
		panic(err) // hashes made by TokenHash
	}
	return &softswitch.Handler{
		Resolver: &softswitch.Resolver{
			Dir:     store.New(stack.Clients.DynamoDB, stack.Table),
			Secrets: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID),
			Realms:  realms,
		},
		Tokens: tokens,
		Logger: log,
	}
}

// loadOrCreateToken reads the token file, or creates it with a new token.
func loadOrCreateToken(path string) (token string, created bool, err error) {
	if path != "" {
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
			if !softswitch.ValidToken(token) {
				return "", false, fmt.Errorf("--token-file %s: not a token (32-128 characters of A-Z a-z 0-9 _ -)", path)
			}
			return token, false, nil
		case !errors.Is(err, fs.ErrNotExist):
			return "", false, fmt.Errorf("--token-file: %w", err)
		}
	}
	if token, err = softswitch.NewToken(); err != nil {
		return "", false, err
	}
	if path != "" {
		if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
			return "", false, fmt.Errorf("--token-file: %w", err)
		}
	}
	return token, path != "", nil
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
