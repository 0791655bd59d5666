package stepfn

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// benchPhase1 is the project's phase 1 with the rows from the input instead
// of S3, so that the benchmark measures the engine, not gofakes3.
func benchPhase1(t testing.TB) []byte {
	var doc map[string]any
	if err := json.Unmarshal(readASL(t), &doc); err != nil {
		t.Fatal(err)
	}
	m := doc["States"].(map[string]any)["CreateUsers"].(map[string]any)
	delete(m, "ItemReader")
	delete(m, "Catch")
	m["ItemsPath"] = "$.items"
	m["End"] = true
	delete(m, "Next")
	out, _ := json.Marshal(map[string]any{"StartAt": "CreateUsers", "States": map[string]any{"CreateUsers": m}})
	return out
}

func benchHandlers() (create, provision Handler) {
	create = Typed(func(_ context.Context, in events.RecordsBatch) (events.BatchResult, error) {
		batch := jobfiles.BatchID(in.Items[0].Line)
		res := events.BatchResult{Tenant: in.BatchInput.Tenant, Job: in.BatchInput.Job, Batch: batch, JobsBucket: in.BatchInput.JobsBucket, ResultKey: in.BatchInput.ResultsKey + batch + ".json"}
		for _, r := range in.Items {
			res.Rows = append(res.Rows, events.RowResult{Line: r.Line, Extension: r.Extension, Name: r.DisplayName(), Email: r.Email, Status: events.StatusCreated})
		}
		return res, nil
	})
	provision = Typed(func(_ context.Context, in events.BatchResult) (events.BatchResult, error) {
		in.Rows = nil
		return in, nil
	})
	return create, provision
}

// BenchmarkEngineOverheadPerBatch runs 1,000 rows in batches of 50 through
// the project's phase 1 Map on the engine, and the same batches through the
// two handlers called directly (encoding each batch as the engine would),
// and reports the engine's time per batch as a ratio to the direct calls.
func BenchmarkEngineOverheadPerBatch(b *testing.B) {
	const rows, batchSize = 1000, 50
	const batches = rows / batchSize
	create, provision := benchHandlers()
	subs := localARNs()
	engine, err := Load(benchPhase1(b), Options{Substitutions: subs, Tasks: map[string]Handler{
		subs["CreateRecordsFunctionArn"]: create, subs["WriteProvisioningFunctionArn"]: provision}})
	if err != nil {
		b.Fatal(err)
	}
	defer engine.Close()
	items := make([]pbx.UserRow, rows)
	for i := range items {
		items[i] = pbx.UserRow{Line: i + 2, Extension: fmt.Sprint(1000 + i), FirstName: "First", LastName: "Last", Email: fmt.Sprintf("user%d@acme.example", i), Mobile: "+14155550100", MAC: "001565a1b2c3"}
	}
	bc := events.BatchContext{Tenant: "acme", Job: "j1", JobsBucket: "jobs", ResultsKey: "jobs/acme/j1/results/"}
	input, _ := json.Marshal(map[string]any{"tenant": bc.Tenant, "job": bc.Job, "jobs_bucket": bc.JobsBucket, "results_key": bc.ResultsKey,
		"batch_size": batchSize, "records_concurrency": 1, "tolerated_failure_percentage": 0, "items": items})
	ctx := context.Background()

	direct := func() {
		for i := 0; i < rows; i += batchSize {
			in, _ := json.Marshal(events.RecordsBatch{BatchInput: bc, Items: items[i : i+batchSize]})
			out, err := create(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := provision(ctx, out); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Baseline in the same run, same number of iterations.
	directStart := time.Now()
	for range b.N {
		direct()
	}
	directPerBatch := float64(time.Since(directStart).Nanoseconds()) / float64(b.N*batches)

	b.ResetTimer()
	run := 0
	for b.Loop() {
		run++
		if _, err := engine.Run(ctx, fmt.Sprintf("b%d", run), input); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	enginePerBatch := float64(b.Elapsed().Nanoseconds()) / float64(run*batches)
	b.ReportMetric(directPerBatch, "direct-ns/batch")
	b.ReportMetric(enginePerBatch, "engine-ns/batch")
	b.ReportMetric(enginePerBatch/directPerBatch, "engine/direct")
	b.ReportMetric(0, "ns/op")
}
