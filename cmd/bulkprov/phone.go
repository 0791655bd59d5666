package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

const phoneUsage = `usage: bulkprov phone credential --tenant T --mac MAC --state DIR [--rotate] [--url URL]
       bulkprov phone kvs --tenant T --state DIR

credential  prints the device's provisioning credential (user = its MAC) and the URL to
            give the phone (per-device DHCP option 66/160 or the vendor's redirection
            service). --rotate gives this one device a new password first: its old one
            stops working, no other device changes.
kvs         prints the CloudFront KeyValueStore entries of tenant T (its device key and
            each rotated device's generation) for aws cloudfront-keyvaluestore put-key.
`

// runPhone manages per-device provisioning credentials.
func runPhone(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("phone", phoneUsage, stderr)
	tenant := fs.String("tenant", "", "tenant name")
	stateDir := fs.String("state", "", "the kept state `DIR` of local runs")
	macFlag := fs.String("mac", "", "the device's MAC, in any notation")
	rotate := fs.Bool("rotate", false, "give the device a new password first")
	base := fs.String("url", localrun.LocalProvisioningURL, "the provisioning URL phones are given (scheme and host)")
	v, code, ok := parseVerb(fs, "phone", args, stderr)
	if !ok {
		return code
	}
	verb, rest, fail := v.verb, v.rest, v.fail
	if len(rest) != 0 {
		return fail(exitUsage, "unexpected arguments %q", rest)
	}
	if verb != "credential" && verb != "kvs" {
		fs.Usage()
		return exitUsage
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		return fail(exitUsage, "--tenant: %s", pbx.ErrorMessage(err))
	}
	if *stateDir == "" {
		return fail(exitUsage, "--state DIR is required")
	}
	mac := ""
	if verb == "credential" {
		var err error
		if mac, err = pbx.NormalizeMAC(*macFlag); err != nil {
			return fail(exitUsage, "--mac: %s", pbx.ErrorMessage(err))
		}
		if u, err := url.Parse(*base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fail(exitUsage, "--url must be an http(s) URL, not %q", *base)
		}
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: *stateDir})
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	defer stack.Close()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	settings, err := st.LoadSettings(ctx, *tenant)
	if err != nil {
		return fail(exitFailed, "%s", pbx.ErrorMessage(err))
	}
	path := settings.ProvisioningPath(*tenant)
	creds := &provision.DeviceCredentials{Store: st, Box: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)}

	if verb == "kvs" {
		key, err := creds.EnsureKey(ctx, *tenant)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		gens, err := st.DeviceGenerations(ctx, *tenant)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		// The device key is a secret: this output belongs in the KVS only.
		fmt.Fprintf(stdout, "%s\t%s\n", path, provision.KVSKeyValue(key))
		macs := make([]string, 0, len(gens))
		for m := range gens {
			macs = append(macs, m)
		}
		slices.Sort(macs)
		for _, m := range macs {
			fmt.Fprintf(stdout, "%s/%s\t%d\n", path, m, gens[m])
		}
		return exitOK
	}

	var user, password string
	gen := 0
	if *rotate {
		password, gen, err = creds.Rotate(ctx, *tenant, path, mac)
		user = mac
	} else {
		user, password, err = creds.Credential(ctx, *tenant, path, mac)
	}
	if err != nil {
		return fail(exitFailed, "%v", err)
	}
	u, _ := url.Parse(strings.TrimSuffix(*base, "/") + "/" + path + "/")
	u.User = url.UserPassword(user, password)
	fmt.Fprintf(stdout, "user     %s\npassword %s\nurl      %s\n", user, password, u.String())
	if *rotate {
		fmt.Fprintf(stdout, "rotated  generation %d; on AWS also put KeyValueStore key %s/%s = %d\n", gen, path, mac, gen)
	}
	return exitOK
}
