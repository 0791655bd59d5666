package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/bulkprov/bulkprov/internal/csvin"
)

// runTemplate prints the canonical CSV header and two example rows, a
// starting point for a tenant admin's spreadsheet.
func runTemplate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("template", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: bulkprov template > users.csv\n\nPrints the canonical header and two example rows.")
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	if err := csvin.WriteTemplate(stdout); err != nil {
		fmt.Fprintln(stderr, "bulkprov template:", err)
		return exitUsage
	}
	return exitOK
}
