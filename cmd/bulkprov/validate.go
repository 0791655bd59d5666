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

// runValidate is `bulkprov validate`: ingest's validation alone. Parse the
// flags, build ingest's input (settings and, with --state, the stored data),
// validate the file, print the report.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, code, ok := parseValidateFlags(args, stderr)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "bulkprov validate:", err)
		return exitUsage
	}
	in, closeStack, err := validateInput(ctx, opts)
	if err != nil {
		return fail(err)
	}
	defer closeStack()
	report, err := validateFile(ctx, opts.file, in)
	if err != nil {
		return fail(err)
	}
	if opts.asJSON {
		err = writeValidateJSON(stdout, report, opts.columns)
	} else {
		err = writeValidateText(stdout, report, opts.columns)
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

// validateOptions are the checked flags of `bulkprov validate`.
type validateOptions struct {
	tenant, stateDir string
	file             string // - for stdin
	asJSON, columns  bool
	meta             map[string]string // upload options given as flags
}

// parseValidateFlags reads the flags and the one FILE and checks the tenant
// name. ok is false when the command should exit now with code.
func parseValidateFlags(args []string, stderr io.Writer) (opts validateOptions, code int, ok bool) {
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
		return opts, exitOK, false
	case err != nil:
		return opts, exitUsage, false
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "bulkprov validate: exactly one FILE is required")
		fs.Usage()
		return opts, exitUsage, false
	}
	if err := pbx.ValidateTenantName(*tenant); err != nil {
		fmt.Fprintln(stderr, "bulkprov validate: --tenant:", pbx.ErrorMessage(err))
		return opts, exitUsage, false
	}
	return validateOptions{tenant: *tenant, stateDir: *stateDir, file: files[0], asJSON: *asJSON, columns: *columns,
		meta: meta}, exitOK, true
}

// validateInput is ingest's input for the tenant and the upload options.
// Without --state: the local tenant's settings and no stored data, so no
// JVM starts. With --state: the kept state's settings and data, read
// through a stack the returned func stops.
func validateInput(ctx context.Context, opts validateOptions) (ingest.Input, func(), error) {
	upload, err := pbx.ParseUploadOptions(opts.meta)
	if err != nil {
		return ingest.Input{}, nil, err
	}
	in := ingest.Input{Tenant: opts.tenant, KnownPhoneModel: provision.KnownModel}
	if opts.stateDir == "" {
		if in.Settings, err = pbx.Merge(pbx.SystemDefaults(), pbx.LocalTenantOverrides(opts.tenant), upload); err != nil {
			return ingest.Input{}, nil, err
		}
		return in, func() {}, nil
	}
	if _, err := os.Stat(filepath.Join(opts.stateDir, "dynamodb")); err != nil {
		return ingest.Input{}, nil, fmt.Errorf("--state %s holds no stored data (run `bulkprov run --state %s` first): %w", opts.stateDir, opts.stateDir, err)
	}
	stack, err := devstack.Start(ctx, devstack.Config{StateDir: opts.stateDir})
	if err != nil {
		return ingest.Input{}, nil, fmt.Errorf("start the local stack in %s: %w", opts.stateDir, err)
	}
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	if in.Settings, err = st.LoadSettings(ctx, opts.tenant, upload); err != nil {
		_ = stack.Close()
		return ingest.Input{}, nil, err
	}
	in.Lookup = st
	return in, func() { _ = stack.Close() }, nil
}

// validateFile validates the named file, or stdin for "-".
func validateFile(ctx context.Context, name string, in ingest.Input) (*ingest.Report, error) {
	src := io.Reader(os.Stdin)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		src = f
	}
	return ingest.Validate(ctx, src, in)
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
