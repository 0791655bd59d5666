package cost

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Report is the cost of a number of rows for bulkprov and the naive design,
// with the targets of issue #11 checked.
type Report struct {
	Rows       int `json:"rows"`
	SampleRows int `json:"sample_rows"`
	// SampleFitRows are the sizes of the two measured uploads when the
	// usage was extrapolated from them (Extrapolate).
	SampleFitRows []int `json:"sample_fit_rows,omitempty"`
	Prices        struct {
		Region string `json:"region"`
		Date   string `json:"date"`
		Source string `json:"source"`
	} `json:"prices"`
	CallsPerRow          float64 `json:"calls_per_row"`
	USDTotal             float64 `json:"usd_total"`
	USDWithoutEmail      float64 `json:"usd_without_email"`
	USDOrchestration     float64 `json:"usd_orchestration"`
	NaiveCallsPerRow     float64 `json:"naive_calls_per_row"`
	NaiveUSDTotal        float64 `json:"naive_usd_total"`
	NaiveUSDWithoutEmail float64 `json:"naive_usd_without_email"`
	// Per10k are the same figures for 10,000 rows.
	Per10k struct {
		USDTotal             float64 `json:"usd_total"`
		USDWithoutEmail      float64 `json:"usd_without_email"`
		NaiveUSDTotal        float64 `json:"naive_usd_total"`
		NaiveUSDWithoutEmail float64 `json:"naive_usd_without_email"`
	} `json:"per_10k_rows"`
	// DynamoDB writes per row, all phases and phase 1 alone, for bulkprov
	// and the naive design.
	WriteUnitsPerRow       float64 `json:"write_units_per_row"`
	ItemWritesPerRow       float64 `json:"item_writes_per_row"`
	Phase1WriteUnitsPerRow float64 `json:"phase1_write_units_per_row"`
	NaiveWriteUnitsPerRow  float64 `json:"naive_write_units_per_row"`
	NaiveItemWritesPerRow  float64 `json:"naive_item_writes_per_row"`
	// AWSSeconds is the modelled time DynamoDB needs to absorb the writes
	// that create Rows users (phase 1) on a fresh on-demand table, on the
	// prod stage's warm table, and for the naive design on a fresh table.
	AWSSeconds struct {
		FreshTable      float64 `json:"fresh_table"`
		WarmTable       float64 `json:"warm_table"`
		AllPhasesFresh  float64 `json:"all_phases_fresh_table"`
		NaiveFreshTable float64 `json:"naive_fresh_table"`
	} `json:"aws_seconds_to_create"`
	Lines        []Line        `json:"lines"`
	ChildChoices []ChildChoice `json:"child_choices"`
	NaiveLines   []Line        `json:"naive_lines"`
	Targets      []Target      `json:"targets"`
	Measured     Usage         `json:"measured"`
	Assumptions  []string      `json:"assumptions"`
}

// Target is one goal of the issue and whether the estimate meets it.
type Target struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Met   bool    `json:"met"`
}

// NewReport prices rows rows from the measured usage.
func NewReport(p Prices, u Usage, rows int) Report {
	ours, naive := p.Estimate(u, rows), p.Estimate(NaiveUsage(u), rows)
	ours10k, naive10k := p.Estimate(u, 10_000), p.Estimate(NaiveUsage(u), 10_000)
	r := Report{
		Rows: rows, SampleRows: u.Rows, SampleFitRows: u.FitFrom,
		CallsPerRow: ours.CallsPerRow, USDTotal: ours.USDTotal, USDWithoutEmail: ours.USDWithoutEmail,
		USDOrchestration: ours.USDOrchestration,
		NaiveCallsPerRow: naive.CallsPerRow, NaiveUSDTotal: naive.USDTotal, NaiveUSDWithoutEmail: naive.USDWithoutEmail,
		Lines: ours.Lines, ChildChoices: ours.ChildChoices, NaiveLines: naive.Lines, Measured: u,
	}
	r.Prices.Region, r.Prices.Date, r.Prices.Source = p.Region, p.Date, p.Source
	sampled := fmt.Sprintf("measured on %d generated rows (every row email+mobile, every 2nd a new DID, every 3rd a MAC) through the local pipeline as one upload; per-row work scaled to the rows", u.Rows)
	if len(u.FitFrom) == 2 {
		r.SampleRows = u.FitFrom[1]
		sampled = fmt.Sprintf("measured on two uploads of %d and %d generated rows (every row email+mobile, every 2nd a new DID, every 3rd a MAC) through the local pipeline, each count and handler time extrapolated along the line through them to an upload of %d rows, so that what a job costs whatever its size (job and report files, settings reads, a handler's fixed work) is counted once per job, not scaled with the rows", u.FitFrom[0], u.FitFrom[1], u.Rows)
	}
	if u.Rows > 0 {
		n := float64(u.Rows)
		naive := NaiveUsage(u)
		r.WriteUnitsPerRow, r.ItemWritesPerRow = u.DynamoDBWriteUnits/n, float64(u.ItemWrites)/n
		r.Phase1WriteUnitsPerRow = u.Phase1WriteUnits / n
		r.NaiveWriteUnitsPerRow, r.NaiveItemWritesPerRow = naive.DynamoDBWriteUnits/n, float64(naive.ItemWrites)/n
		r.AWSSeconds.FreshTable = WriteBoundSeconds(r.Phase1WriteUnitsPerRow*float64(rows), FreshTableWriteUnitsPerSecond)
		r.AWSSeconds.WarmTable = WriteBoundSeconds(r.Phase1WriteUnitsPerRow*float64(rows), ProdWarmWriteUnitsPerSecond)
		r.AWSSeconds.AllPhasesFresh = WriteBoundSeconds(r.WriteUnitsPerRow*float64(rows), FreshTableWriteUnitsPerSecond)
		r.AWSSeconds.NaiveFreshTable = WriteBoundSeconds(naive.Phase1WriteUnits/n*float64(rows), FreshTableWriteUnitsPerSecond)
	}
	r.Per10k.USDTotal, r.Per10k.USDWithoutEmail = ours10k.USDTotal, ours10k.USDWithoutEmail
	r.Per10k.NaiveUSDTotal, r.Per10k.NaiveUSDWithoutEmail = naive10k.USDTotal, naive10k.USDWithoutEmail
	ratio := 0.0
	if naive10k.USDWithoutEmail > 0 {
		ratio = ours10k.USDWithoutEmail / naive10k.USDWithoutEmail
	}
	r.Targets = []Target{
		{Name: "billable requests per row (besides SendEmail) <= 3", Value: ours.CallsPerRow, Limit: 3},
		{Name: "orchestration share of the non-SES cost <= 10%", Value: ours10k.OrchestrationPart, Limit: 0.10},
		{Name: "non-SES cost / naive design's <= 1/10", Value: ratio, Limit: 0.10},
		{Name: "non-SES USD per 10,000 rows <= 0.15", Value: ours10k.USDWithoutEmail, Limit: 0.15},
		{Name: "DynamoDB write units per row, all phases <= 9", Value: r.WriteUnitsPerRow, Limit: 9},
		{Name: "modelled AWS seconds to create 10,000 users (fresh table) <= 25", Value: r.Phase1WriteUnitsPerRow * 10_000 / FreshTableWriteUnitsPerSecond, Limit: 25},
	}
	for i := range r.Targets {
		r.Targets[i].Met = r.Targets[i].Value <= r.Targets[i].Limit
	}
	r.Assumptions = []string{
		fmt.Sprintf("call counts %s; per-job work (parent transitions, ingest and finalize requests) once per upload of at most %d rows", sampled, MaxRowsPerJob),
		"DynamoDB units modelled from request and item sizes (transactional writes 2 per started KB, Update/Delete within 1 KB, reads 1 per 4 KB strongly consistent, half eventually); DynamoDB Local's own ConsumedCapacity is flat per transaction",
		"Lambda duration = handler time measured locally (against DynamoDB Local on loopback, one full core) x the memory infra/stack.go sets; cold starts not included",
		fmt.Sprintf("Express children: one request per batch; duration = the batch's handler time, rounded up to %v, at %d MB", p.ExpressDurationStep, p.ExpressMemoryChunkMB),
		"Distributed Map children: EXPRESS where every child's worst case (Task timeouts x attempts + back-off) fits in 5 minutes (phase 1), STANDARD where SES pacing can exceed it (phase 2: billed per state entered, retries included); both prices per Map under child_choices",
		"Standard transitions: each top-level Task and Map entered (from the engine's events, retries included) plus the Pass, Choice and Succeed states, which emit no events (counted once per execution)",
		fmt.Sprintf("naive design: one Standard execution per row with %d task states, one Lambda per step per row, one PutItem per object, a KMS call per secret use, no result files; same handler time", NaiveStatesPerRow),
		"free tiers ignored; S3 storage, CloudWatch Logs and data transfer not included",
		fmt.Sprintf("naive design's DynamoDB writes: one PutItem of <= 1 KB per PBX object (%d objects: user, extension, mailbox, endpoint, contact, secrets per row; DID, route, owner per DID; owner per MAC), the rest of bulkprov's writes outside transactions", u.PBXObjects),
		fmt.Sprintf("AWS time to create the users: phase 1's write units / the table's write throughput (a fresh on-demand table absorbs %d WRU/s before it scales; the prod stage's table is pre-warmed to %d WRU/s); a lower bound whatever the Lambda concurrency; emails are paced by SES's send rate", FreshTableWriteUnitsPerSecond, ProdWarmWriteUnitsPerSecond),
	}
	return r
}

// WriteText prints the report for a person.
func (r Report) WriteText(w io.Writer) error {
	sample := fmt.Sprintf("%d generated rows", r.SampleRows)
	if len(r.SampleFitRows) == 2 {
		sample = fmt.Sprintf("uploads of %d and %d generated rows", r.SampleFitRows[0], r.SampleFitRows[1])
	}
	fmt.Fprintf(w, "bulkprov cost for %d rows — measured on %s in %.1fs, %s list prices of %s\n\n",
		r.Rows, sample, r.Measured.Elapsed.Round(100*time.Millisecond).Seconds(), r.Prices.Region, r.Prices.Date)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "service\titem\tbulkprov qty\tbulkprov USD\tnaive qty\tnaive USD\t\n")
	for i, l := range r.Lines {
		n := r.NaiveLines[i]
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.6f\t%.1f\t%.6f\t\n", l.Service, l.Item, l.Quantity, l.USD, n.Quantity, n.USD)
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\t\n")
	fmt.Fprintf(tw, "total\t\t\t%.4f\t\t%.4f\t\n", r.USDTotal, r.NaiveUSDTotal)
	fmt.Fprintf(tw, "without email\t\t\t%.4f\t\t%.4f\t\n", r.USDWithoutEmail, r.NaiveUSDWithoutEmail)
	fmt.Fprintf(tw, "billable requests/row\t\t\t%.2f\t\t%.2f\t\n", r.CallsPerRow, r.NaiveCallsPerRow)
	fmt.Fprintf(tw, "DynamoDB write units/row (all phases)\t\t\t%.2f\t\t%.2f\t\n", r.WriteUnitsPerRow, r.NaiveWriteUnitsPerRow)
	fmt.Fprintf(tw, "DynamoDB item writes/row (all phases)\t\t\t%.2f\t\t%.2f\t\n", r.ItemWritesPerRow, r.NaiveItemWritesPerRow)
	fmt.Fprintf(tw, "AWS seconds to create %d users, fresh table\t\t\t%.1f\t\t%.1f\t\n", r.Rows, r.AWSSeconds.FreshTable, r.AWSSeconds.NaiveFreshTable)
	fmt.Fprintf(tw, "  same, prod table warm at %d WRU/s\t\t\t%.1f\t\t\t\n", ProdWarmWriteUnitsPerSecond, r.AWSSeconds.WarmTable)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nper 10,000 rows: $%.4f with email, $%.4f without (naive design: $%.4f, $%.4f)\n\ntargets:\n",
		r.Per10k.USDTotal, r.Per10k.USDWithoutEmail, r.Per10k.NaiveUSDTotal, r.Per10k.NaiveUSDWithoutEmail)
	for _, t := range r.Targets {
		verdict := "met"
		if !t.Met {
			verdict = "NOT MET"
		}
		fmt.Fprintf(w, "  %-55s %10.4f  %s\n", t.Name, t.Value, verdict)
	}
	fmt.Fprintln(w, "\nDistributed Map children (the file's choice, and the other type for the same work):")
	for _, c := range r.ChildChoices {
		fmt.Fprintf(w, "  %-18s %-8s $%.6f   as %s: $%.6f", c.Map, c.Type, c.USD, c.OtherType, c.OtherUSD)
		if c.WhyNotCheapest != "" {
			fmt.Fprintf(w, "   (%s)", c.WhyNotCheapest)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "\nassumptions:")
	for _, a := range r.Assumptions {
		fmt.Fprintf(w, "  - %s\n", a)
	}
	return nil
}
