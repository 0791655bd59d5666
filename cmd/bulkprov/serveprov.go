package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
)

// runServeProvisioning serves the embedded stack's provisioning bucket to
// phones over HTTP, with the same rules as the CloudFront Function in AWS:
// HTTP Basic per tenant (user = tenant, password = its provisioning
// credential), one identical 401 for every refusal. At start it sets a
// fresh credential for every tenant that has files (and for each --tenant)
// and prints them: only hashes are stored, so this is the one time they can
// be shown. For local use only.
func runServeProvisioning(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-provisioning", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8088", "listen address")
	state := fs.String("state", "", "state directory of the local stack (as for bulkprov run); empty starts an empty stack")
	tenants := fs.String("tenant", "", "comma-separated tenants to set credentials for, besides those that have files")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bulkprov serve-provisioning [--addr 127.0.0.1:8088] [--state DIR] [--tenant a,b]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
		return code
	}
	var extra []string
	for t := range strings.SplitSeq(*tenants, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if err := pbx.ValidateTenantName(t); err != nil {
			fmt.Fprintf(stderr, "serve-provisioning: --tenant: %v\n", pbx.ErrorMessage(err))
			return exitUsage
		}
		extra = append(extra, t)
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "serve-provisioning: %v\n", err)
		return exitUsage
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: *state, Logger: log})
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "serve-provisioning: %v\n", err)
		return exitFailed
	}
	defer stack.Close()
	if err := serveProvisioning(ctx, ln, stack, extra, stdout, log); err != nil {
		fmt.Fprintf(stderr, "serve-provisioning: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// serveProvisioning sets the tenants' credentials, prints them and serves
// until ctx is done.
func serveProvisioning(ctx context.Context, ln net.Listener, stack *devstack.Stack, extra []string, stdout io.Writer, log *slog.Logger) error {
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	tenants, err := tenantsWithFiles(ctx, stack.Clients.S3, stack.ProvisioningBucket)
	if err != nil {
		_ = ln.Close()
		return err
	}
	for _, t := range extra {
		if !slices.Contains(tenants, t) {
			tenants = append(tenants, t)
		}
	}
	slices.Sort(tenants)
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "Serving provisioning files at %s/<tenant>/<file> (HTTP Basic: user = tenant)\n", base)
	if len(tenants) == 0 {
		fmt.Fprintln(stdout, "No tenant has provisioning files yet; run bulkprov run first, or pass --tenant.")
	}
	for _, t := range tenants {
		password := store.GenerateProvisioningCredential()
		if err := st.SetProvisioningCredential(ctx, t, password); err != nil {
			_ = ln.Close()
			return err
		}
		// Printed for local use only; the store keeps only a salted hash.
		fmt.Fprintf(stdout, "  tenant %-12s provisioning URL %s/%s/  user %s  password %s\n", t, base, t, t, password)
	}

	srv := &http.Server{
		Handler: &provision.Server{S3: stack.Clients.S3, Bucket: stack.ProvisioningBucket, Credentials: st,
			Logger: log},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	return serveUntilDone(ctx, srv, ln, 5*time.Second, func() {})
}

// tenantsWithFiles lists the top-level folders of the provisioning bucket
// that are tenant names.
func tenantsWithFiles(ctx context.Context, c *s3.Client, bucket string) ([]string, error) {
	var tenants []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", bucket, err)
		}
		for _, cp := range page.CommonPrefixes {
			t := strings.TrimSuffix(aws.ToString(cp.Prefix), "/")
			if pbx.ValidateTenantName(t) == nil {
				tenants = append(tenants, t)
			}
		}
	}
	return tenants, nil
}
