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

// runSIPLookup implements `bulkprov sip-lookup`: parse the flags, read or
// create the token, then either write the Kamailio configuration for a
// deployed API (--lookup-url) or serve the API on the local stack.
func runSIPLookup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := &sipLookupCmd{stdout: stdout, stderr: stderr}
	fs := newFlagSet("sip-lookup", sipLookupUsage, stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8089", "listen `address`")
	fs.StringVar(&c.state, "state", "", "state `DIR` of the local stack (as for bulkprov run)")
	fs.StringVar(&c.tokenFile, "token-file", "", "bearer token `FILE` (created with a new token if missing)")
	fs.StringVar(&c.realms, "realm", "", "platform-wide digest `realms`, comma-separated, accepted besides each tenant's SIP domain")
	fs.StringVar(&c.kamCfg, "kamailio-cfg", "", "write a Kamailio configuration using this server to `FILE`")
	fs.StringVar(&c.sipAddr, "sip-addr", "127.0.0.1", "Kamailio's listen `IP` (with --kamailio-cfg)")
	fs.IntVar(&c.sipPort, "sip-port", 5060, "Kamailio's port for phones (with --kamailio-cfg)")
	fs.IntVar(&c.trunkPort, "trunk-port", 5070, "Kamailio's port for carriers' DID calls (with --kamailio-cfg)")
	fs.StringVar(&c.transports, "transport", "udp,tcp", "Kamailio's transports for phones (with --kamailio-cfg)")
	fs.DurationVar(&c.cacheTTL, "cache-ttl", softswitch.DefaultCacheTTL, "how long Kamailio caches an answer (with --kamailio-cfg)")
	fs.StringVar(&c.lookupURL, "lookup-url", "", "with --kamailio-cfg: write the configuration for this API `URL` and exit")
	if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
		return code
	}
	var err error
	if c.token, c.created, err = loadOrCreateToken(c.tokenFile); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	if c.lookupURL != "" {
		return c.writeConfigOnly()
	}
	return c.serve(ctx)
}

// sipLookupCmd is one `bulkprov sip-lookup`: its flags and its token.
type sipLookupCmd struct {
	addr, state, tokenFile, realms string
	// Kamailio's configuration (--kamailio-cfg FILE).
	kamCfg, sipAddr, transports string
	sipPort, trunkPort          int
	cacheTTL                    time.Duration
	lookupURL                   string
	token                       string
	created                     bool // the token file was created now
	stdout, stderr              io.Writer
}

func (c *sipLookupCmd) fail(code int, format string, a ...any) int {
	fmt.Fprintf(c.stderr, "bulkprov sip-lookup: "+format+"\n", a...)
	return code
}

// writeKamailioConfig writes the Kamailio configuration for the API at base.
func (c *sipLookupCmd) writeKamailioConfig(base string) error {
	cfg, err := softswitch.RenderKamailio(softswitch.KamailioConfig{
		Address: c.sipAddr, Port: c.sipPort, TrunkPort: c.trunkPort, Transports: splitList(c.transports),
		LookupURL: base, Token: c.token, CacheTTL: c.cacheTTL, Debug: 2,
	})
	if err != nil {
		return err
	}
	// The file holds the token: owner-only, like the token file.
	return os.WriteFile(c.kamCfg, cfg, 0o600)
}

// writeConfigOnly writes the configuration for the deployed API at
// --lookup-url, with the token it accepts, and serves nothing.
func (c *sipLookupCmd) writeConfigOnly() int {
	if c.kamCfg == "" || c.tokenFile == "" {
		return c.fail(exitUsage, "--lookup-url needs --kamailio-cfg FILE and --token-file FILE (the token the deployed API accepts)")
	}
	if err := c.writeKamailioConfig(c.lookupURL); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	fmt.Fprintf(c.stdout, "Kamailio configuration for %s written to %s\n", c.lookupURL, c.kamCfg)
	return exitOK
}

// serve listens, writes the Kamailio configuration for this server when
// asked, starts the local stack and serves the API until ctx ends.
func (c *sipLookupCmd) serve(ctx context.Context) int {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	base := "http://" + ln.Addr().String()
	if c.kamCfg != "" {
		if err := c.writeKamailioConfig(base); err != nil {
			_ = ln.Close()
			return c.fail(exitUsage, "%v", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(c.stderr, nil))
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: c.state, Logger: log})
	if err != nil {
		_ = ln.Close()
		return c.fail(exitFailed, "%v", err)
	}
	defer stack.Close()

	h := newSIPLookupHandler(stack, splitList(c.realms), []string{softswitch.TokenHash(c.token)}, log)
	c.printServing(base)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}
	if err := serveUntilDone(ctx, srv, ln, 5*time.Second, func() {}); err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	return exitOK
}

// printServing says where the API is, where its token is and where the
// Kamailio configuration went.
func (c *sipLookupCmd) printServing(base string) {
	fmt.Fprintf(c.stdout, "Serving the SIP lookup API at %s (GET /v1/sip/auth, /v1/sip/extension, /v1/sip/did)\n", base)
	switch {
	case c.tokenFile == "":
		// Printed for local use only, like serve-provisioning's passwords.
		fmt.Fprintf(c.stdout, "  bearer token %s\n", c.token)
	case c.created:
		fmt.Fprintf(c.stdout, "  new bearer token written to %s\n", c.tokenFile)
	default:
		fmt.Fprintf(c.stdout, "  bearer token read from %s\n", c.tokenFile)
	}
	if c.kamCfg != "" {
		fmt.Fprintf(c.stdout, "  Kamailio configuration written to %s: kamailio -DD -E -f %s\n", c.kamCfg, c.kamCfg)
	}
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
