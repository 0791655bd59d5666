package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/peers"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
)

// validateUsage is printed for -h and usage errors.
const validateUsage = `usage: bulkprov validate --tenant T [--json] [--columns] [--state DIR] [--on-existing fail|skip|update]
                         [--create-dids] [--dids-as-caller-id] [--welcome invite|password|none] [--dry-run]
                         [--import-secrets] FILE

Validates FILE (- for stdin) exactly as ingest would, with no side effects.
FILE may be another PBX's user export (FreePBX, 3CX, Wazo, Kazoo, FusionPBX,
FS PBX, Issabel, Switchvox, Vodia, Yeastar): --columns adds the column report
(the peer detected, each column and the field it fed or why it is ignored;
"source" in the JSON).
Without --state it assumes the local tenant settings and no stored users;
with --state DIR it checks against the data of a local run kept in DIR.
Exit status: 0 all rows valid, 1 some rows invalid, 2 unusable file or usage error.
`

// runValidate is `bulkprov validate`: ingest's validation alone.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, validateUsage) }
	tenant := fs.String("tenant", "", "tenant name (required)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	columns := fs.Bool("columns", false, "add the column report (peer detected, what each column fed)")
	stateDir := fs.String("state", "", "check against the stored data of a local run in `DIR`")
	meta := map[string]string{}
	addUploadOptionFlags(fs, meta)
	files, help, err := parseInterspersed(fs, args)
	switch {
	case help:
		return exitOK
	case err != nil:
		return exitUsage
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "bulkprov validate: exactly one FILE is required")
		fs.Usage()
		return exitUsage
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		fmt.Fprintln(stderr, "bulkprov validate: --tenant:", pbx.ErrorMessage(err))
		return exitUsage
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "bulkprov validate:", err)
		return exitUsage
	}

	upload, err := pbx.ParseUploadOptions(meta)
	if err != nil {
		return fail(err)
	}
	in := ingest.Input{Tenant: *tenant, KnownPhoneModel: provision.KnownModel}
	if *stateDir == "" {
		// No stored data: the local tenant's settings, and no JVM to start.
		if in.Settings, err = pbx.Merge(pbx.SystemDefaults(), pbx.LocalTenantOverrides(*tenant), upload); err != nil {
			return fail(err)
		}
	} else {
		if _, err := os.Stat(filepath.Join(*stateDir, "dynamodb")); err != nil {
			return fail(fmt.Errorf("--state %s holds no stored data (run `bulkprov run --state %s` first): %w", *stateDir, *stateDir, err))
		}
		stack, err := devstack.Start(ctx, devstack.Config{StateDir: *stateDir})
		if err != nil {
			return fail(fmt.Errorf("start the local stack in %s: %w", *stateDir, err))
		}
		defer stack.Close()
		st := store.New(stack.Clients.DynamoDB, stack.Table)
		if in.Settings, err = st.LoadSettings(ctx, *tenant, upload); err != nil {
			return fail(err)
		}
		in.Lookup = st
	}

	src := io.Reader(os.Stdin)
	if name := files[0]; name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		src = f
	}
	report, err := ingest.Validate(ctx, src, in)
	if err != nil {
		return fail(err)
	}
	if *asJSON {
		err = writeValidateJSON(stdout, report, *columns)
	} else {
		err = writeValidateText(stdout, report, *columns)
	}
	if err != nil {
		return fail(err)
	}
	switch {
	case report.FileError != nil:
		return exitUsage
	case report.Invalid > 0:
		return exitFailed
	}
	return exitOK
}

// validateJSON is the --json output, exactly these fields (source only
// with --columns).
type validateJSON struct {
	Rows     int            `json:"rows"`
	Valid    int            `json:"valid"`
	Invalid  int            `json:"invalid"`
	Errors   []ingest.Issue `json:"errors"`
	Warnings []ingest.Issue `json:"warnings"`
	Source   *peers.Source  `json:"source,omitempty"`
}

func writeValidateJSON(w io.Writer, r *ingest.Report, columns bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	out := validateJSON{Rows: r.Rows, Valid: r.Valid, Invalid: r.Invalid, Errors: r.Errors, Warnings: r.Warnings}
	if columns {
		out.Source = r.Source
	}
	return enc.Encode(out)
}

// writeValidateText prints one line per issue, then a summary line; with
// columns, the column report first.
func writeValidateText(w io.Writer, r *ingest.Report, columns bool) error {
	if columns && r.Source != nil {
		if _, err := fmt.Fprintf(w, "format: %s (mapping %s)\n", r.Source.Name, r.Source.Mapping); err != nil {
			return err
		}
		for _, c := range r.Source.Columns {
			line := fmt.Sprintf("  column %d %q → %s", c.Position, c.Column, c.Field)
			if c.Reason != "" {
				line += ": " + c.Reason
			}
			if _, err := fmt.Fprintln(w, line); err != nil {
				return err
			}
		}
	}
	for _, list := range []struct {
		label  string
		issues []ingest.Issue
	}{{"", r.Errors}, {"warning: ", r.Warnings}} {
		for _, is := range list.issues {
			where := "line " + strconv.Itoa(is.Line)
			if is.Line == 0 {
				where = "file"
			}
			if is.Column != "" {
				where += ", " + is.Column
			}
			if _, err := fmt.Fprintf(w, "%s%s: %s: %s\n", list.label, where, is.Code, is.Message); err != nil {
				return err
			}
		}
	}
	summary := fmt.Sprintf("%d rows: %d valid, %d invalid", r.Rows, r.Valid, r.Invalid)
	if r.Skipped > 0 {
		summary += fmt.Sprintf(", %d skipped", r.Skipped)
	}
	if len(r.Warnings) > 0 {
		summary += fmt.Sprintf(", %d warnings", len(r.Warnings))
	}
	if r.FileError != nil {
		summary += "; the file cannot be used: " + r.FileError.Message
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}
