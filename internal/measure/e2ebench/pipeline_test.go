package e2ebench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/measure/cost"
)

// bareTransactions measures DynamoDB Local's rate of plain 8-item
// TransactWriteItems (fresh items, no conditions) on the pipeline's own
// stack: the baseline the pipeline's rows/s is compared with.
func bareTransactions(ctx context.Context, p *localrun.Pipeline, n int) (float64, error) {
	start := time.Now()
	for i := range n {
		items := make([]types.TransactWriteItem, 8)
		for j := range items {
			items[j] = types.TransactWriteItem{Put: &types.Put{TableName: aws.String(p.Stack.Table), Item: map[string]types.AttributeValue{
				"PK":   &types.AttributeValueMemberS{Value: "BENCH#" + strconv.Itoa(i)},
				"SK":   &types.AttributeValueMemberS{Value: strconv.Itoa(j)},
				"Data": &types.AttributeValueMemberS{Value: "a typical attribute value of some length"},
			}}}
		}
		if _, err := p.Stack.Clients.DynamoDB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// recordsConcurrency is the phase-1 MaxConcurrency ingest puts in the
// execution input by default: the write ceiling replays at the same.
const recordsConcurrency = 4

// pipelineSizes are the upload sizes BenchmarkPipeline runs; BULKPROV_E2E_ROWS
// (comma-separated) replaces them, e.g. to skip the 100k run.
func pipelineSizes(b *testing.B) []int {
	env := os.Getenv("BULKPROV_E2E_ROWS")
	if env == "" {
		return []int{1_000, 10_000, 100_000}
	}
	var sizes []int
	for _, f := range splitComma(env) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			b.Fatalf("BULKPROV_E2E_ROWS: bad size %q", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// BenchmarkPipeline uploads generated CSVs of 1k, 10k and 100k rows (names,
// emails, mobiles; a new DID on every 2nd row, a MAC on every 3rd) into a
// fresh local pipeline and waits for the job to end: ingest, the Step
// Functions engine on the deployed ASL, create-records, write-provisioning,
// send-welcome (the local SES's send rate raised to 100,000/s so that email
// pacing does not hide the pipeline's speed) and finalize. Reported: rows/s
// from upload to the job's end, DynamoDB Local's bare 8-item transactions/s
// on the same stack (baseline) and the ratio, each step's rows per
// handler-second, billable requests per row and the modelled USD per 10,000
// rows without email. After the job, outside the measured time, the job's
// items are written again by DynamoDB Local alone (see writeCeiling):
// ddb_write_ceiling_rows/s is the most any pipeline writing these items
// could reach on this stack, rows_per_ceiling how close this one gets.
//
//	go test -run '^$' -bench BenchmarkPipeline -benchtime 1x -timeout 60m ./internal/measure/e2ebench
func BenchmarkPipeline(b *testing.B) {
	for _, rows := range pipelineSizes(b) {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			ctx := context.Background()
			var baseline float64
			var elapsed time.Duration
			var last cost.Usage
			var ceiling writeCeiling
			for b.Loop() {
				u, err := cost.Measure(ctx, cost.MeasureConfig{
					Rows: rows, Dir: b.TempDir(), SESMaxSendRate: 100_000,
					BeforeUpload: func(ctx context.Context, p *localrun.Pipeline) (err error) {
						baseline, err = bareTransactions(ctx, p, 200)
						return err
					},
					AfterJob: func(ctx context.Context, p *localrun.Pipeline, job jobmodel.Job) (err error) {
						ceiling, err = measureWriteCeiling(ctx, p, job, rows, recordsConcurrency)
						return err
					},
				})
				if err != nil {
					b.Fatal(err)
				}
				elapsed += u.Elapsed
				last = u
			}
			rate := float64(rows) * float64(b.N) / elapsed.Seconds()
			est := cost.ListPrices().Estimate(last, 10_000)
			b.ReportMetric(rate, "rows/s")
			b.ReportMetric(baseline, "bare_8item_tx/s")
			b.ReportMetric(rate/baseline, "rows_per_bare_tx")
			b.ReportMetric(ceiling.rowsPerSecond, "ddb_write_ceiling_rows/s")
			b.ReportMetric(rate/ceiling.rowsPerSecond, "rows_per_ceiling")
			b.ReportMetric(ceiling.itemsPerRow, "items/row")
			b.ReportMetric(ceiling.serialParallel, "ddb_parallel_speedup")
			b.ReportMetric(ceiling.allWritesRowsPerSecond, "ddb_all_writes_ceiling_rows/s")
			b.ReportMetric(rate/ceiling.allWritesRowsPerSecond, "rows_per_all_writes_ceiling")
			b.ReportMetric(ceiling.writesPerRow, "ceiling_writes/row")
			b.ReportMetric(est.CallsPerRow, "calls/row")
			// DynamoDB writes as AWS bills them (all phases), and the time a
			// fresh on-demand table (4,000 WRU/s) needs to absorb phase 1's
			// writes for 10,000 users.
			n := float64(last.Rows)
			b.ReportMetric(last.DynamoDBWriteUnits/n, "wru/row")
			b.ReportMetric(float64(last.ItemWrites)/n, "item_writes/row")
			b.ReportMetric(cost.WriteBoundSeconds(last.Phase1WriteUnits/n*10_000, cost.FreshTableWriteUnitsPerSecond), "aws_s_for_10k_users")
			naive := cost.ListPrices().Estimate(cost.NaiveUsage(last), 10_000)
			b.ReportMetric(est.USDWithoutEmail/naive.USDWithoutEmail, "usd_vs_naive")
			b.ReportMetric(est.USDWithoutEmail, "usd_per_10k_rows_without_email")
			for _, f := range last.Functions {
				if f.Duration > 0 {
					b.ReportMetric(float64(f.Rows)/f.Duration.Seconds(), f.Name+"_rows/handler_s")
				}
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}
