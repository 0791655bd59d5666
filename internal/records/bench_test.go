package records_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// bareTransactionsPerSecond measures DynamoDB Local's rate of plain
// 8-item TransactWriteItems (fresh items, no conditions), the baseline the
// handler's rate is compared with in the same run.
func bareTransactionsPerSecond(b *testing.B, n int) float64 {
	ctx := context.Background()
	start := time.Now()
	for i := range n {
		var items []types.TransactWriteItem
		for j := range 8 {
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: aws.String(stack.Table), Item: map[string]types.AttributeValue{
				"PK":   &types.AttributeValueMemberS{Value: fmt.Sprintf("BENCH#%d#%d", start.UnixNano(), i)},
				"SK":   &types.AttributeValueMemberS{Value: fmt.Sprint(j)},
				"Data": &types.AttributeValueMemberS{Value: "a typical attribute value of some length"},
			}}})
		}
		if _, err := stack.Clients.DynamoDB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			b.Fatal(err)
		}
	}
	return float64(n) / time.Since(start).Seconds()
}

// modelledStore sums WriteRows' modelled write units: DynamoDB Local
// reports a flat 4 WCU per transaction, not what AWS would bill.
type modelledStore struct {
	*store.Store
	mu  sync.Mutex
	wcu float64
}

func (m *modelledStore) WriteRows(ctx context.Context, tenant string, rows []store.RowWrite, opt store.WriteOptions) ([]store.RowOutcome, store.WriteStats, error) {
	out, stats, err := m.Store.WriteRows(ctx, tenant, rows, opt)
	m.mu.Lock()
	m.wcu += stats.ModelWCU
	m.mu.Unlock()
	return out, stats, err
}

// BenchmarkHandler runs batches of 50 typical rows (name, email, mobile;
// every second row a DID with create-dids, every third a MAC; invite
// welcome) through the handler against DynamoDB Local, S3 and KMS on
// loopback, for several rows per transaction, one or several of a batch's
// transactions at once, and one or four batches at once (the Distributed
// Map runs batches concurrently). Reported:
// rows/s, its ratio to bare 8-item transactions/s measured in the same run,
// billable calls per row (every DynamoDB, KMS and S3 call the handler made),
// and write units per row (DynamoDB Local's report and the billing model).
//
//	go test -run '^$' -bench BenchmarkHandler -benchtime 20x ./internal/records
func BenchmarkHandler(b *testing.B) {
	const batchRows = 50
	bare := bareTransactionsPerSecond(b, 200)
	next := 0 // extension and DID/MAC numbers, unique across every run
	for _, c := range []struct{ batches, perTx, txConcurrency int }{
		{1, 1, 1}, {1, 4, 1}, {1, 8, 1}, {1, 25, 1}, {1, 25, 2}, {1, 25, 4}, {4, 25, 1}, {4, 25, 2},
	} {
		concurrency, perTx := c.batches, c.perTx
		b.Run(fmt.Sprintf("batches=%d/rows_per_tx=%d/tx_at_once=%d", concurrency, perTx, c.txConcurrency), func(b *testing.B) {
			tenant := fmt.Sprintf("bench%dx%dx%d", concurrency, perTx, c.txConcurrency)
			e := newEnv(b, tenant, provisioningOn)
			e.h.RowsPerTransaction = perTx
			e.h.Concurrency = c.txConcurrency
			model := &modelledStore{Store: e.st}
			e.h.Store = model
			job := e.job(b, "job-bench", options(func(o *pbx.Options) { o.CreateDIDs = true }))
			batches := benchBatches(&next, b.N*concurrency, batchRows)
			addBenchDIDs(b, e, batches)
			before := counter.Snapshot()
			b.ResetTimer()
			start := time.Now()
			err := runBenchBatches(e, job, batches, concurrency)
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			reportHandlerMetrics(b, counter.Snapshot().Sub(before), float64(len(batches)*batchRows), len(batches), elapsed, bare, model.wcu)
		})
	}
}

// benchBatches makes n batches of size typical rows, numbered from *next on:
// every second row a DID, every third a MAC.
func benchBatches(next *int, n, size int) [][]pbx.UserRow {
	batches := make([][]pbx.UserRow, n)
	for i := range batches {
		for r := range size {
			n := *next
			*next++
			row := pbx.UserRow{Line: 2 + n, Extension: fmt.Sprint(100000 + n), FirstName: "Bench", LastName: fmt.Sprint(n),
				Email: fmt.Sprintf("u%d@bench.example", n), Mobile: "+14155550100", Department: "Load"}
			if r%2 == 0 {
				row.DID = fmt.Sprintf("+1628%07d", n)
			}
			if r%3 == 0 {
				row.MAC = fmt.Sprintf("00156f%06x", n)
			}
			batches[i] = append(batches[i], row)
		}
	}
	return batches
}

// addBenchDIDs puts the rows' DIDs in the operator's free inventory.
func addBenchDIDs(b *testing.B, e *env, batches [][]pbx.UserRow) {
	var dids []string
	for _, batch := range batches {
		for _, row := range batch {
			if row.DID != "" {
				dids = append(dids, row.DID)
			}
		}
	}
	if _, _, err := e.st.AddDIDs(context.Background(), dids, ""); err != nil {
		b.Fatal(err)
	}
}

// runBenchBatches runs the batches through the handler, concurrency at once
// (as the Distributed Map does), and returns the first error or the first
// row not created.
func runBenchBatches(e *env, job string, batches [][]pbx.UserRow, concurrency int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(batches))
	for w := range concurrency {
		wg.Go(func() {
			for i := w; i < len(batches); i += concurrency {
				res, err := e.h.Handle(context.Background(), e.batch(job, batches[i]...))
				if err == nil {
					for _, r := range res.Rows {
						if r.Status != "created" {
							err = fmt.Errorf("line %d: %s %s %s", r.Line, r.Status, r.Code, r.Message)
							break
						}
					}
				}
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// reportHandlerMetrics reports the rate, its ratio to bare transactions, and
// the calls and write units per row from the calls d counted.
func reportHandlerMetrics(b *testing.B, d callstats.Stats, rows float64, batches int, elapsed time.Duration, bare, modelWCU float64) {
	rate := rows / elapsed.Seconds()
	billable := d.Service("DynamoDB") + d.Service("KMS") + d.Service("S3")
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(bare, "bare_8item_tx/s")
	b.ReportMetric(rate/bare, "rows_per_bare_tx")
	b.ReportMetric(float64(billable)/rows, "calls/row")
	b.ReportMetric(d.ConsumedWCU/rows, "local_wcu/row")
	b.ReportMetric(modelWCU/rows, "model_wcu/row")
	b.ReportMetric(float64(d.Calls["DynamoDB.TransactWriteItems"])/float64(batches), "tx/batch")
	b.ReportMetric(0, "ns/op")
}
