package main

import (
	"context"
	"encoding/csv"
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
	w := csv.NewWriter(stdout)
	_ = w.Write(csvin.CanonicalHeader())
	_ = w.Write([]string{"100", "Ann", "Lee", "ann.lee@example.com", "+1 415 555 0100", "+14155550100", "00:15:65:a1:b2:c3", "", "yealink-t54w", "Sales"})
	_ = w.Write([]string{"101", "Bruno", "Diaz", "bruno.diaz@example.com", "", "", "", "Front Desk", "", "Support"})
	w.Flush()
	if err := w.Error(); err != nil {
		fmt.Fprintln(stderr, "bulkprov template:", err)
		return exitUsage
	}
	return exitOK
}
