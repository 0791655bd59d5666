package main

import (
	"context"
	"errors"
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

// runPhone manages per-device provisioning credentials: parse the verb and
// flags, check them, open the kept state and the tenant's device
// credentials, then run the verb.
func runPhone(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("phone", phoneUsage, stderr)
	c := &phoneCmd{stdout: stdout}
	fs.StringVar(&c.tenant, "tenant", "", "tenant name")
	fs.StringVar(&c.stateDir, "state", "", "the kept state `DIR` of local runs")
	fs.StringVar(&c.macFlag, "mac", "", "the device's MAC, in any notation")
	fs.BoolVar(&c.rotate, "rotate", false, "give the device a new password first")
	fs.StringVar(&c.base, "url", localrun.LocalProvisioningURL, "the provisioning URL phones are given (scheme and host)")
	v, code, ok := parseVerb(fs, "phone", args, stderr)
	if !ok {
		return code
	}
	c.verbArgs = v
	if len(c.rest) != 0 {
		return c.fail(exitUsage, "unexpected arguments %q", c.rest)
	}
	run, known := map[string]func(context.Context, *phoneCmd) int{"credential": phoneCredential, "kvs": phoneKVS}[c.verb]
	if !known {
		fs.Usage()
		return exitUsage
	}
	if err := c.checkArgs(); err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: c.stateDir})
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	defer stack.Close()
	c.st = store.New(stack.Clients.DynamoDB, stack.Table)
	settings, err := c.st.LoadSettings(ctx, c.tenant)
	if err != nil {
		return c.fail(exitFailed, "%s", pbx.ErrorMessage(err))
	}
	c.path = settings.ProvisioningPath(c.tenant)
	c.creds = &provision.DeviceCredentials{Store: c.st, Box: secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)}
	return run(ctx, c)
}

// phoneCmd is one `bulkprov phone <verb>`: its flags and, once the kept
// state is open, the tenant's provisioning path and device credentials.
type phoneCmd struct {
	verbArgs
	tenant, stateDir string
	macFlag, base    string // credential: --mac as given, --url
	rotate           bool
	mac              string // --mac normalized
	st               *store.Store
	path             string // the tenant's provisioning path
	creds            *provision.DeviceCredentials
	stdout           io.Writer
}

// checkArgs checks the tenant and --state, and for credential the MAC and
// the URL, before the stack starts.
func (c *phoneCmd) checkArgs() error {
	if err := pbx.ValidateTenantName(c.tenant); err != nil {
		return fmt.Errorf("--tenant: %s", pbx.ErrorMessage(err))
	}
	if c.stateDir == "" {
		return errors.New("--state DIR is required")
	}
	if c.verb != "credential" {
		return nil
	}
	var err error
	if c.mac, err = pbx.NormalizeMAC(c.macFlag); err != nil {
		return fmt.Errorf("--mac: %s", pbx.ErrorMessage(err))
	}
	if u, err := url.Parse(c.base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an http(s) URL, not %q", c.base)
	}
	return nil
}

// phoneKVS prints the tenant's CloudFront KeyValueStore entries: its device
// key, then each rotated device's generation.
func phoneKVS(ctx context.Context, c *phoneCmd) int {
	key, err := c.creds.EnsureKey(ctx, c.tenant)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	gens, err := c.st.DeviceGenerations(ctx, c.tenant)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	// The device key is a secret: this output belongs in the KVS only.
	fmt.Fprintf(c.stdout, "%s\t%s\n", c.path, provision.KVSKeyValue(key))
	macs := make([]string, 0, len(gens))
	for m := range gens {
		macs = append(macs, m)
	}
	slices.Sort(macs)
	for _, m := range macs {
		fmt.Fprintf(c.stdout, "%s/%s\t%d\n", c.path, m, gens[m])
	}
	return exitOK
}

// phoneCredential prints one device's credential and provisioning URL,
// after giving it a new password with --rotate.
func phoneCredential(ctx context.Context, c *phoneCmd) int {
	var user, password string
	var err error
	gen := 0
	if c.rotate {
		password, gen, err = c.creds.Rotate(ctx, c.tenant, c.path, c.mac)
		user = c.mac
	} else {
		user, password, err = c.creds.Credential(ctx, c.tenant, c.path, c.mac)
	}
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	u, _ := url.Parse(strings.TrimSuffix(c.base, "/") + "/" + c.path + "/")
	u.User = url.UserPassword(user, password)
	fmt.Fprintf(c.stdout, "user     %s\npassword %s\nurl      %s\n", user, password, u.String())
	if c.rotate {
		fmt.Fprintf(c.stdout, "rotated  generation %d; on AWS also put KeyValueStore key %s/%s = %d\n", gen, c.path, c.mac, gen)
	}
	return exitOK
}
