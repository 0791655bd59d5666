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

// runTenant implements `bulkprov tenant`.
func runTenant(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("tenant", tenantUsage, stderr)
	tenant := fs.String("tenant", "", "tenant name")
	stateDir := fs.String("state", "", "the kept state `DIR` of local runs")
	display := fs.String("name", "", "the tenant's display name (set)")
	v, code, ok := parseVerb(fs, "tenant", args, stderr)
	if !ok {
		return code
	}
	verb, rest, fail := v.verb, v.rest, v.fail
	readFile := func() ([]byte, error) {
		if len(rest) != 1 {
			return nil, fmt.Errorf("exactly one FILE is required")
		}
		if rest[0] == "-" {
			return io.ReadAll(os.Stdin)
		}
		return os.ReadFile(rest[0])
	}
	openStore := func() (*store.Store, func(), error) {
		if err := pbx.ValidateTenantName(*tenant); err != nil {
			return nil, nil, err
		}
		if *stateDir == "" {
			return nil, nil, fmt.Errorf("--state DIR is required")
		}
		stack, err := devstack.Start(ctx, devstack.Config{StateDir: *stateDir})
		if err != nil {
			return nil, nil, err
		}
		return store.New(stack.Clients.DynamoDB, stack.Table), func() { _ = stack.Close() }, nil
	}

	switch verb {
	case "check":
		b, err := readFile()
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		if _, err := tenants.Check(b); err != nil {
			return fail(exitFailed, "%v", err)
		}
		fmt.Fprintln(stdout, "settings are valid")
		return exitOK
	case "set":
		b, err := readFile()
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		if _, err := tenants.Check(b); err != nil {
			return fail(exitFailed, "%v", err)
		}
		st, closeStack, err := openStore()
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		defer closeStack()
		name := *display
		if name == "" {
			name = *tenant
		}
		if err := tenants.Save(ctx, st, pbx.Tenant{Name: *tenant, DisplayName: name}, b); err != nil {
			return fail(exitFailed, "%v", err)
		}
		fmt.Fprintf(stdout, "tenant %s saved in %s\n", *tenant, *stateDir)
		return exitOK
	case "show":
		st, closeStack, err := openStore()
		if err != nil {
			return fail(exitUsage, "%v", err)
		}
		defer closeStack()
		s, err := st.LoadSettings(ctx, *tenant)
		if err != nil {
			return fail(exitFailed, "%v", err)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s); err != nil {
			return fail(exitFailed, "%v", err)
		}
		return exitOK
	}
	return fail(exitUsage, "unknown action (want check, set or show)")
}
