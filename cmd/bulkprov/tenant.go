package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/tenants"
)

const tenantUsage = `usage: bulkprov tenant check FILE
       bulkprov tenant set  --tenant T --state DIR [--name "Display Name"] FILE
       bulkprov tenant show --tenant T --state DIR

check  validates a tenant settings file (a JSON object with any subset of the
       settings fields) without storing it: unknown fields, value ranges and
       welcome email templates with unknown variables are errors.
set    checks FILE and stores it as tenant T's settings in the kept state DIR.
show   prints tenant T's effective settings (system defaults, then its own).
FILE may be - for stdin. Exit status: 0 ok, 1 invalid settings, 2 usage error.

flags:
`

// runTenant implements `bulkprov tenant`: parse the verb and flags, then
// run the verb.
func runTenant(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("tenant", tenantUsage, stderr)
	c := &tenantCmd{stdout: stdout}
	fs.StringVar(&c.tenant, "tenant", "", "tenant name")
	fs.StringVar(&c.stateDir, "state", "", "the kept state `DIR` of local runs")
	fs.StringVar(&c.display, "name", "", "the tenant's display name (set)")
	v, code, ok := parseVerb(fs, "tenant", args, stderr)
	if !ok {
		return code
	}
	c.verbArgs = v
	run, known := map[string]func(context.Context, *tenantCmd) int{
		"check": tenantCheck, "set": tenantSet, "show": tenantShow,
	}[c.verb]
	if !known {
		return c.fail(exitUsage, "unknown action (want check, set or show)")
	}
	return run(ctx, c)
}

// tenantCmd is one `bulkprov tenant <verb>` and its flags.
type tenantCmd struct {
	verbArgs
	tenant, stateDir, display string
	stdout                    io.Writer
}

// readSettings reads the one FILE (- for stdin) and checks it: exit 2 when
// it cannot be read, 1 when the settings are invalid. ok is false then.
func (c *tenantCmd) readSettings() (b []byte, code int, ok bool) {
	var err error
	switch {
	case len(c.rest) != 1:
		err = fmt.Errorf("exactly one FILE is required")
	case c.rest[0] == "-":
		b, err = io.ReadAll(os.Stdin)
	default:
		b, err = os.ReadFile(c.rest[0])
	}
	if err != nil {
		return nil, c.fail(exitUsage, "%v", err), false
	}
	if _, err := tenants.Check(b); err != nil {
		return nil, c.fail(exitFailed, "%v", err), false
	}
	return b, exitOK, true
}

// openStore checks the tenant and --state and opens the kept state.
func (c *tenantCmd) openStore(ctx context.Context) (*store.Store, func(), error) {
	if err := pbx.ValidateTenantName(c.tenant); err != nil {
		return nil, nil, err
	}
	if c.stateDir == "" {
		return nil, nil, fmt.Errorf("--state DIR is required")
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: c.stateDir})
	if err != nil {
		return nil, nil, err
	}
	return store.New(stack.Clients.DynamoDB, stack.Table), func() { _ = stack.Close() }, nil
}

func tenantCheck(_ context.Context, c *tenantCmd) int {
	if _, code, ok := c.readSettings(); !ok {
		return code
	}
	fmt.Fprintln(c.stdout, "settings are valid")
	return exitOK
}

func tenantSet(ctx context.Context, c *tenantCmd) int {
	b, code, ok := c.readSettings()
	if !ok {
		return code
	}
	st, closeStack, err := c.openStore(ctx)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer closeStack()
	name := c.display
	if name == "" {
		name = c.tenant
	}
	if err := tenants.Save(ctx, st, pbx.Tenant{Name: c.tenant, DisplayName: name}, b); err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	fmt.Fprintf(c.stdout, "tenant %s saved in %s\n", c.tenant, c.stateDir)
	return exitOK
}

func tenantShow(ctx context.Context, c *tenantCmd) int {
	st, closeStack, err := c.openStore(ctx)
	if err != nil {
		return c.fail(exitUsage, "%v", err)
	}
	defer closeStack()
	s, err := st.LoadSettings(ctx, c.tenant)
	if err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return c.fail(exitFailed, "%v", err)
	}
	return exitOK
}
