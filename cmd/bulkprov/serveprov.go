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

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// runServeProvisioning serves the embedded stack's provisioning bucket to
// phones over HTTP, with the same rules as the CloudFront function in AWS:
// each device authenticates with its own credential (user = its MAC,
// password derived from the tenant's device key), one identical 401 for
// every refusal, and only the Host it listens on. At start it prints each
// tenant's URL and the credential of every device that has a file, for
// local use.
func runServeProvisioning(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve-provisioning", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8088", "listen address")
	state := fs.String("state", "", "state directory of the local stack (as for bulkprov run); empty starts an empty stack")
	tenants := fs.String("tenant", "", "comma-separated tenants to create device keys for, besides those that have files")
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

// serveProvisioning makes sure each tenant has a device key, prints the
// device credentials and serves until ctx is done.
func serveProvisioning(ctx context.Context, ln net.Listener, stack *devstack.Stack, extra []string, stdout io.Writer, log *slog.Logger) error {
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	creds := &provision.DeviceCredentials{Store: st, Box: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)}
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
	host := ln.Addr().String()
	base := "http://" + host
	fmt.Fprintf(stdout, "Serving provisioning files at %s/<tenant>/<file> (HTTP Basic: user = the phone's MAC, password = its own)\n", base)
	if len(tenants) == 0 {
		fmt.Fprintln(stdout, "No tenant has provisioning files yet; run bulkprov run first, or pass --tenant.")
	}
	for _, t := range tenants {
		if _, err := creds.EnsureKey(ctx, t); err != nil {
			_ = ln.Close()
			return err
		}
		macs, err := devicesWithFiles(ctx, stack.Clients.S3, stack.ProvisioningBucket, t)
		if err != nil {
			_ = ln.Close()
			return err
		}
		fmt.Fprintf(stdout, "  tenant %s: provisioning URL %s/%s/ (%d devices)\n", t, base, t, len(macs))
		for _, mac := range macs {
			user, pw, err := creds.Credential(ctx, t, t, mac)
			if err != nil {
				_ = ln.Close()
				return err
			}
			// Printed for local use only; nothing stores the password.
			fmt.Fprintf(stdout, "    %s  http://%s:%s@%s/%s/\n", mac, user, pw, host, t)
		}
	}

	srv := &http.Server{
		Handler: &provision.Server{S3: stack.Clients.S3, Bucket: stack.ProvisioningBucket, Credentials: creds,
			Host: host, Logger: log},
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	return serveUntilDone(ctx, srv, ln, 5*time.Second, func() {})
}

// devicesWithFiles lists the MACs that have a file in a tenant's folder.
func devicesWithFiles(ctx context.Context, c *s3.Client, bucket, tenant string) ([]string, error) {
	seen := map[string]bool{}
	var macs []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(tenant + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", bucket, tenant, err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), tenant+"/")
			if mac := provision.DeviceOfFile(name); mac != "" && !seen[mac] {
				seen[mac] = true
				macs = append(macs, mac)
			}
		}
	}
	slices.Sort(macs)
	return macs, nil
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
