package cost

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12+1e-9*math.Abs(b) }

// knownUsage is a hand-made job of 100 rows with round numbers.
func knownUsage() Usage {
	return Usage{
		Rows: 100,
		Calls: map[string]int{
			"DynamoDB.TransactWriteItems": 50, "DynamoDB.BatchGetItem": 2, "DynamoDB.UpdateItem": 8,
			"S3.PutObject": 10, "S3.ListObjectsV2": 2, "S3.GetObject": 20, "S3.HeadObject": 5,
			"KMS.GenerateDataKey": 2, "KMS.Decrypt": 4,
			"SESv2.SendEmail": 100, "SESv2.GetAccount": 2, "SFN.StartExecution": 1,
		},
		DynamoDBWriteUnits: 2000, DynamoDBTransactWriteUnits: 1600, DynamoDBReadUnits: 400,
		ObjectsWritten: 800, ProvisioningFiles: 30, Emails: 100,
		DynamoDBTransactPutUnits: 1200, ItemWrites: 1000, Phase1WriteUnits: 1500, PBXObjects: 900,
		StandardTransitions: 6,
		Express: []ExpressUsage{
			{Map: "A", Type: "EXPRESS", Executions: 2, Duration: 300 * time.Millisecond, Transitions: 4}, // mean 150 ms → billed 200 ms
			{Map: "B", Type: "STANDARD", Executions: 2, Duration: 10 * time.Minute, Transitions: 3},      // one retry
		},
		Functions: []FunctionUsage{
			{Name: "create-records", MemoryMiB: 512, Invocations: 2, Duration: 2 * time.Second},
			{Name: "ingest", MemoryMiB: 1024, Invocations: 1, Duration: 1500 * time.Microsecond}, // billed 2 ms
		},
	}
}

func TestEstimateKnownMix(t *testing.T) {
	p := ListPrices()
	e := p.Estimate(knownUsage(), 100)
	want := map[string]float64{
		"DynamoDB/write request units":              2000 * 0.625e-6,
		"DynamoDB/read request units":               400 * 0.125e-6,
		"DynamoDB/API calls (priced as units)":      0,
		"S3/PUT/COPY/POST/LIST requests":            12 * 0.005 / 1000,
		"S3/GET and other requests":                 25 * 0.0004 / 1000,
		"KMS/requests":                              6 * 0.03 / 10000,
		"Lambda/requests":                           3 * 0.2e-6,
		"Lambda/arm64 GB-seconds":                   (2*0.5 + 0.002*1) * 0.0000133334,
		"Step Functions/Standard state transitions": 6 * 0.000025,
		"Step Functions/Express requests":           2 * 1e-6,
		"Step Functions/Express GB-seconds":         2 * 0.2 * 0.0625 * 0.00001667,
		"Step Functions/Standard child transitions": 3 * 0.000025,
		"SES/emails":                                100 * 0.0001,
	}
	total := 0.0
	for _, l := range e.Lines {
		w, ok := want[l.Service+"/"+l.Item]
		if !ok {
			t.Errorf("unexpected line %s/%s", l.Service, l.Item)
			continue
		}
		if !near(l.USD, w) {
			t.Errorf("%s/%s = $%.12f, want $%.12f", l.Service, l.Item, l.USD, w)
		}
		total += w
	}
	if len(e.Lines) != len(want) {
		t.Errorf("%d lines, want %d", len(e.Lines), len(want))
	}
	if !near(e.USDTotal, total) || !near(e.USDWithoutEmail, total-0.01) {
		t.Errorf("total $%.9f without email $%.9f, want $%.9f and $%.9f", e.USDTotal, e.USDWithoutEmail, total, total-0.01)
	}
	orch := 6*0.000025 + 2*1e-6 + 2*0.2*0.0625*0.00001667 + 3*0.000025
	// The choice, priced both ways: A as EXPRESS vs 4 transitions; B as
	// STANDARD vs 2 requests + 2 x 300 s x 64 MB.
	if len(e.ChildChoices) != 2 || e.ChildChoices[0].Type != "EXPRESS" || !near(e.ChildChoices[0].OtherUSD, 4*0.000025) ||
		e.ChildChoices[1].Type != "STANDARD" || !near(e.ChildChoices[1].USD, 3*0.000025) || !near(e.ChildChoices[1].OtherUSD, 2*1e-6+600*0.0625*0.00001667) {
		t.Errorf("child choices %+v", e.ChildChoices)
	}
	if !near(e.USDOrchestration, orch) {
		t.Errorf("orchestration $%.12f, want $%.12f", e.USDOrchestration, orch)
	}
	// Billable requests: 60 DynamoDB + 37 S3 + 6 KMS + 3 Lambda + 6
	// transitions + 2 Express + 3 Standard child transitions; not SES, not
	// StartExecution.
	if want := (60.0 + 37 + 6 + 3 + 6 + 2 + 3) / 100; !near(e.CallsPerRow, want) {
		t.Errorf("calls per row %.4f, want %.4f", e.CallsPerRow, want)
	}
}

func TestEstimateScaling(t *testing.T) {
	p := ListPrices()
	one, ten := p.Estimate(knownUsage(), 100), p.Estimate(knownUsage(), 1000)
	// Per job: 6 transitions and 1 ingest request stay; the rest is per row.
	perJob := 6*p.SFNStandardPerTransition + 1*p.LambdaPerRequest
	if want := 10*(one.USDTotal-perJob) + perJob; !near(ten.USDTotal, want) {
		t.Errorf("1000 rows: $%v, want $%v", ten.USDTotal, want)
	}
	if want := (10*(one.CallsPerRow*100-7) + 7) / 1000; !near(ten.CallsPerRow, want) {
		t.Errorf("1000 rows: %v calls/row, want %v", ten.CallsPerRow, want)
	}
	// 250,000 rows are three uploads of at most 100,000: three jobs.
	big := p.Estimate(knownUsage(), 250_000)
	for _, l := range big.Lines {
		if l.Item == "Standard state transitions" && l.Quantity != 18 {
			t.Errorf("250k rows: %v transitions, want 18", l.Quantity)
		}
	}
}

func TestNaiveUsage(t *testing.T) {
	u := knownUsage()
	n := NaiveUsage(u)
	checks := []struct {
		name      string
		got, want float64
	}{
		{"transitions per row", float64(n.RowTransitions), 3 * 100},
		{"transitions per job", float64(n.StandardTransitions), 0},
		{"PutItem (one per PBX object)", float64(n.Calls["DynamoDB.PutItem"]), 900},
		{"TransactWriteItems", float64(n.Calls["DynamoDB.TransactWriteItems"]), 0},
		{"UpdateItem kept", float64(n.Calls["DynamoDB.UpdateItem"]), 8},
		{"GenerateDataKey per row", float64(n.Calls["KMS.GenerateDataKey"]), 100},
		{"Decrypt per file and email", float64(n.Calls["KMS.Decrypt"]), 130},
		{"S3 PUT upload + files", float64(n.Calls["S3.PutObject"]), 31},
		// 400 outside transactions, 1600 inside: 1200 for the rows' items
		// (replaced by 900 PutItems of 1 unit), 400 others at half.
		{"write units: one per object, the rest non-transactional", n.DynamoDBWriteUnits, 400 + 200 + 900},
		{"item writes", float64(n.ItemWrites), 1000 - 800 + 900},
		{"phase 1 write units", n.Phase1WriteUnits, 900},
		{"read units", n.DynamoDBReadUnits, 400},
		{"express", float64(len(n.Express)), 0},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, f := range n.Functions {
		want := map[string]int{"create-records": 100, "ingest": 1}[f.Name]
		if f.Invocations != want {
			t.Errorf("%s: %d invocations, want %d", f.Name, f.Invocations, want)
		}
	}
	// Priced by the same model: 300 transitions alone are $0.0075.
	e := ListPrices().Estimate(n, 1000)
	if e.USDWithoutEmail < 3000*0.000025 {
		t.Errorf("naive non-SES cost $%v below its transitions' price", e.USDWithoutEmail)
	}
}

func TestReportTargets(t *testing.T) {
	r := NewReport(ListPrices(), knownUsage(), 10_000)
	if len(r.Targets) != 6 {
		t.Fatalf("%d targets", len(r.Targets))
	}
	for _, tg := range r.Targets {
		if tg.Met != (tg.Value <= tg.Limit) {
			t.Errorf("%s: value %v limit %v met %v", tg.Name, tg.Value, tg.Limit, tg.Met)
		}
	}
	if !near(r.Per10k.USDTotal, r.USDTotal) {
		t.Errorf("per 10k $%v != total for 10k rows $%v", r.Per10k.USDTotal, r.USDTotal)
	}
	if r.Targets[0].Value != r.CallsPerRow {
		t.Errorf("calls/row target %v, report %v", r.Targets[0].Value, r.CallsPerRow)
	}
}

func TestBilledSeconds(t *testing.T) {
	tests := []struct {
		total time.Duration
		n     int
		step  time.Duration
		want  float64
	}{
		{0, 0, time.Millisecond, 0},
		{1500 * time.Microsecond, 1, time.Millisecond, 0.002},
		{250 * time.Millisecond, 2, 100 * time.Millisecond, 0.4},
		{time.Second, 4, 100 * time.Millisecond, 1.2},
		{time.Second, 4, 0, 1},
	}
	for _, tt := range tests {
		if got := billedSeconds(tt.total, tt.n, tt.step); !near(got, tt.want) {
			t.Errorf("billedSeconds(%v, %d, %v) = %v, want %v", tt.total, tt.n, tt.step, got, tt.want)
		}
	}
}

// The memory sizes the model prices must be the ones the stack deploys.
func TestFunctionMemoryMatchesStack(t *testing.T) {
	src, err := os.ReadFile("../../../infra/stack.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`Name: "([a-z-]+)"[^}]*?MemoryMiB: (\d+)`)
	found := re.FindAllSubmatch(src, -1)
	mem := FunctionMemoryMiB()
	if len(found) != len(mem) {
		t.Fatalf("stack.go declares %d functions with memory, model knows %d", len(found), len(mem))
	}
	for _, m := range found {
		n, _ := strconv.Atoi(string(m[2]))
		if mem[string(m[1])] != n {
			t.Errorf("%s: stack sets %d MiB, model uses %d", m[1], n, mem[string(m[1])])
		}
	}
}
