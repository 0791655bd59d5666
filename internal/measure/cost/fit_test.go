package cost

import (
	"testing"
	"time"
)

// TestExtrapolateCountsAJobsFixedPartOnce: a quantity with a fixed part per
// job and a part per row is read off the line through two uploads, not
// scaled from one; a quantity that did not grow is scaled in proportion.
func TestExtrapolateCountsAJobsFixedPartOnce(t *testing.T) {
	// Per job: 10 S3 PUTs, 4 write units, 1 s of ingest; per row: 0.5 PUTs,
	// 8 units, 10 ms.
	at := func(rows int) Usage {
		return Usage{
			Rows:               rows,
			Calls:              map[string]int{"S3.PutObject": 10 + rows/2, "SESv2.GetAccount": 7},
			DynamoDBWriteUnits: 4 + 8*float64(rows),
			Emails:             rows,
			Functions:          []FunctionUsage{{Name: "ingest", Invocations: 1, Duration: time.Second + time.Duration(rows)*10*time.Millisecond}},
			Express:            []ExpressUsage{{Map: "CreateUsers", Executions: rows / 50}},
			Elapsed:            time.Duration(rows) * time.Millisecond,
		}
	}
	small, large := at(100), at(200)
	// Noise: the larger upload measured fewer GetAccount calls than the
	// smaller one.
	small.Calls["SESv2.GetAccount"] = 9
	got := Extrapolate(small, large, 10_000)

	if got.Rows != 10_000 || len(got.FitFrom) != 2 || got.FitFrom[0] != 100 || got.FitFrom[1] != 200 {
		t.Fatalf("rows %d, fit from %v", got.Rows, got.FitFrom)
	}
	want := at(10_000)
	if got.Calls["S3.PutObject"] != want.Calls["S3.PutObject"] {
		t.Errorf("S3 PUTs = %d, want %d (10 per job + 0.5 per row)", got.Calls["S3.PutObject"], want.Calls["S3.PutObject"])
	}
	if got.DynamoDBWriteUnits != want.DynamoDBWriteUnits {
		t.Errorf("write units = %v, want %v", got.DynamoDBWriteUnits, want.DynamoDBWriteUnits)
	}
	if got.Emails != 10_000 {
		t.Errorf("emails = %d, want 10000", got.Emails)
	}
	if f := got.Functions[0]; f.Invocations != 1 || f.Duration != want.Functions[0].Duration {
		t.Errorf("ingest = %+v, want 1 invocation of %v", f, want.Functions[0].Duration)
	}
	if x := got.Express[0]; x.Executions != 200 {
		t.Errorf("children = %d, want 200", x.Executions)
	}
	if n := got.Calls["SESv2.GetAccount"]; n != 7*50 {
		t.Errorf("GetAccount (measured lower in the larger upload) = %d, want 7 scaled ×50 = 350", n)
	}
	if got.Elapsed != 300*time.Millisecond {
		t.Errorf("elapsed = %v, want the two uploads' 300ms", got.Elapsed)
	}
	// Scaling the larger upload alone counts the fixed part 50 times.
	scaled := ListPrices().Estimate(large, 10_000)
	fitted := ListPrices().Estimate(got, 10_000)
	if !(fitted.USDWithoutEmail < scaled.USDWithoutEmail) {
		t.Errorf("fitted $%.6f is not below scaled $%.6f", fitted.USDWithoutEmail, scaled.USDWithoutEmail)
	}
}
