package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/portal"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/welcomejob"
	portalweb "github.com/bulkprov/bulkprov/web/portal"
)

// runPortal serves the tenant portal on this machine: the page, the same
// API handler as the portal-api Lambda behind a development sign-in for the
// seeded tenant, and the whole local pipeline, so that Save really runs
// ingest and the workflow. The sign-in has no password, so it listens on
// loopback only.
func runPortal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("portal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (loopback only; port 0 picks a free port)")
	tenant := fs.String("tenant", "acme", "the tenant to seed and sign in as")
	state := fs.String("state", "", "state directory of the local stack (as for bulkprov run); empty starts an empty stack")
	outbox := fs.String("outbox", "", "folder for the welcome emails (.eml); empty lets the stack choose")
	rejectOnce := fs.String("reject-email-once", "", "the local SES rejects the first email to this `address` (tries the portal's resend)")
	failOnce := fs.String("uncertain-email-once", "", "the local SES fails the first email to this `address` with HTTP 500: an uncertain email (tries the resend's confirmation)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bulkprov portal [--addr 127.0.0.1:8080] [--tenant acme] [--state DIR] [--outbox DIR] [--reject-email-once ADDR] [--uncertain-email-once ADDR]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
		return code
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		fmt.Fprintf(stderr, "portal: --tenant: %s\n", pbx.ErrorMessage(err))
		return exitUsage
	}
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		fmt.Fprintf(stderr, "portal: --addr %q: the development sign-in has no password, so listen on a loopback address such as 127.0.0.1:8080\n", *addr)
		return exitUsage
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "portal: %v\n", err)
		return exitUsage
	}
	p, err := localrun.Start(ctx, localrun.Config{Tenant: *tenant, StateDir: *state, OutboxDir: *outbox, Logger: log})
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "portal: %v\n", err)
		return exitFailed
	}
	defer p.Close()
	if *rejectOnce != "" {
		p.Stack.SES().RejectAddressOnce(*rejectOnce)
	}
	if *failOnce != "" {
		p.Stack.SES().FailAddressOnce(*failOnce)
	}
	if err := servePortal(ctx, ln, p, stdout, log); err != nil {
		fmt.Fprintf(stderr, "portal: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// servePortal serves until ctx is done, then shuts down gracefully.
func servePortal(ctx context.Context, ln net.Listener, p *localrun.Pipeline, stdout io.Writer, log *slog.Logger) error {
	key := make([]byte, 32) // per process: restarting signs everyone out
	if _, err := rand.Read(key); err != nil {
		_ = ln.Close()
		return err
	}
	tokens, err := portal.NewDevTokens(key, 12*time.Hour, nil)
	if err != nil {
		_ = ln.Close()
		return err
	}
	base := "http://" + ln.Addr().String()
	h, err := portal.NewLocalServer(portal.LocalConfig{
		PublicURL: base, S3Endpoint: p.Stack.Endpoints.S3, AWS: p.Stack.Clients.Config,
		UploadsBucket: p.Stack.UploadsBucket, JobsBucket: p.Stack.JobsBucket,
		Jobs: p.Store, Settings: p.Store, Lookup: p.Store, Objects: p.Stack.Clients.S3, Budget: p.Store,
		TenantSettings: p.Store, Rows: p.Handlers.Finalize, Users: p.Store, UserFiles: p.Stack.Clients.S3,
		Emails: &welcomejob.Sender{
			Welcome: p.Handlers.Welcome, Finalize: p.Handlers.Finalize,
			Jobs: p.Store, S3: p.Stack.Clients.S3, JobsBucket: p.Stack.JobsBucket,
		},
		Tenants: []string{p.Tenant}, Tokens: tokens, Files: portalweb.Files(),
		KnownPhoneModel: provision.KnownModel, Logger: log,
	})
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // a large CSV PUT
		WriteTimeout:      2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	return serveUntilDone(ctx, srv, ln, 10*time.Second, func() {
		fmt.Fprintf(stdout, "Portal ready at %s/ (sign in as tenant %s)\n", base, p.Tenant)
		fmt.Fprintf(stdout, "Welcome emails are written to %s\n", p.Stack.OutboxDir)
	})
}
