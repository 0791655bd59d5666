package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/bulkprov/bulkprov/internal/measure/cost"
)

const costUsage = `usage: bulkprov cost --rows N [--sample S] [--json]

Estimates what N rows cost on AWS (us-east-1 list prices, internal/measure/cost/prices.go):
starts the embedded stack, runs two uploads of generated rows (S/2, then S;
names, emails, mobiles, DIDs on every 2nd row, MACs on every 3rd) through the
whole local pipeline, counts every billable request, the state transitions
and the handler time, and extrapolates them along the line through the two
uploads to N rows (a job's fixed part counted once, not scaled), next to a
naive design (one Standard execution per row, one PutItem per PBX object,
no batching) priced by the same model.
Also prints DynamoDB write units and item writes per row (all phases) and
the modelled time AWS needs to absorb the writes that create N users on a
fresh on-demand table (4,000 WRU/s) and on the prod stage's warm table.

flags:
`

// measureCost measures the sample as two uploads (half the sample, then
// the sample) and extrapolates to one upload of rows rows (at most
// cost.MaxRowsPerJob), so that a job's fixed part is counted once; a
// sample of one row is measured and scaled as is.
func measureCost(ctx context.Context, cfg cost.MeasureConfig, rows int) (cost.Usage, error) {
	if cfg.Rows < 2 {
		return cost.Measure(ctx, cfg)
	}
	return cost.MeasureFit(ctx, cfg, min(rows, cost.MaxRowsPerJob))
}

// runCost implements `bulkprov cost`.
func runCost(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cost", costUsage, stderr)
	rows := fs.Int("rows", 10_000, "rows to price")
	sample := fs.Int("sample", 200, "generated rows to measure on the local pipeline")
	sesRate := fs.Float64("ses-rate", 14, "SES send rate (messages/s) of the account; send-welcome paces itself to it")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up after this long")
	rest, help, err := parseInterspersed(fs, args)
	switch {
	case help:
		return exitOK
	case err != nil:
		return exitUsage
	case len(rest) > 0:
		fmt.Fprintf(stderr, "bulkprov cost: unexpected argument %q\n", rest[0])
		return exitUsage
	case *rows <= 0:
		fmt.Fprintln(stderr, "bulkprov cost: --rows must be positive")
		return exitUsage
	case *sesRate <= 0:
		fmt.Fprintln(stderr, "bulkprov cost: --ses-rate must be positive")
		return exitUsage
	case *sample <= 0 || *sample > 100_000:
		fmt.Fprintln(stderr, "bulkprov cost: --sample must be 1-100000")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if !*asJSON {
		if *sample >= 2 {
			fmt.Fprintf(stdout, "measuring uploads of %d and %d generated rows on the local pipeline…\n", *sample/2, *sample)
		} else {
			fmt.Fprintf(stdout, "measuring %d generated rows on the local pipeline…\n", *sample)
		}
	}
	usage, err := measureCost(ctx, cost.MeasureConfig{Rows: *sample, SESMaxSendRate: *sesRate, Logger: slog.New(slog.DiscardHandler)}, *rows)
	if err != nil {
		fmt.Fprintln(stderr, "bulkprov cost:", err)
		return exitFailed
	}
	report := cost.NewReport(cost.ListPrices(), usage, *rows)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintln(stderr, "bulkprov cost:", err)
			return exitFailed
		}
		return exitOK
	}
	if err := report.WriteText(stdout); err != nil {
		fmt.Fprintln(stderr, "bulkprov cost:", err)
		return exitFailed
	}
	return exitOK
}
