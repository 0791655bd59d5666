package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bulkprov/bulkprov/internal/export"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

const exportUsage = `usage: bulkprov export --tenant T --state DIR [--format csv|json]

Prints tenant T's users, as stored in the local run kept in DIR, sorted by
extension: CSV in the template's columns (the file re-imports unchanged with
on-existing=update, and exporting again gives the same bytes), or a JSON
array of objects with extension, first_name, last_name, email, mobile, did,
mac, phone_model, caller_id and department. No secret is ever exported.
Exit status: 0 written, 2 usage error or no stored data.

flags:
`

// runExport is `bulkprov export`.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("export", exportUsage, stderr)
	tenant := fs.String("tenant", "", "tenant name (required)")
	stateDir := fs.String("state", "", "the local run's kept data (`DIR`, required)")
	format := fs.String("format", "csv", "csv or json")
	if code, ok := parseFlagsOnly(fs, args, stderr); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "bulkprov export: "+format+"\n", a...)
		return exitUsage
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		return fail("--tenant: %s", pbx.ErrorMessage(err))
	}
	write := export.WriteCSV
	switch *format {
	case "csv":
	case "json":
		write = export.WriteJSON
	default:
		return fail("--format must be csv or json, not %q", *format)
	}
	if *stateDir == "" {
		return fail("--state DIR is required (the directory of `bulkprov run --state DIR`)")
	}
	if _, err := os.Stat(filepath.Join(*stateDir, "dynamodb")); err != nil {
		return fail("--state %s holds no stored data (run `bulkprov run --state %s` first)", *stateDir, *stateDir)
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: *stateDir})
	if err != nil {
		return fail("start the local stack in %s: %v", *stateDir, err)
	}
	defer stack.Close()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	if _, err := st.LoadSettings(ctx, *tenant); err != nil {
		if pbx.ErrorCode(err) == pbx.ENOTFOUND {
			return fail("tenant %s has no data in %s", *tenant, *stateDir)
		}
		return fail("%v", err)
	}
	users, err := st.ListUsers(ctx, *tenant)
	if err != nil {
		return fail("%v", err)
	}
	if err := write(stdout, users); err != nil {
		return fail("%v", err)
	}
	return exitOK
}
