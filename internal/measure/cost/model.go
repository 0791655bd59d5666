// Package cost models what a bulkprov job costs on AWS from call counts
// measured on the local pipeline and a price table (prices.go), next to a
// naive design priced by the same model.
package cost

import (
	"math"
	"sort"
	"strings"
	"time"
)

// Usage is what one measured job consumed, all counts for Rows rows.
type Usage struct {
	Rows int
	// Calls are SDK operations by "Service.Operation" (callstats keys).
	Calls map[string]int
	// DynamoDB request units as billed (see Meter), and the objects the
	// rows created (items Put inside transactions).
	DynamoDBWriteUnits         float64
	DynamoDBTransactWriteUnits float64
	DynamoDBReadUnits          float64
	ObjectsWritten             int
	// DynamoDBTransactPutUnits is the part of the transactional units
	// spent on Puts (the rows' items).
	DynamoDBTransactPutUnits float64
	// ItemWrites counts every DynamoDB item written, all phases.
	ItemWrites int
	// Phase1WriteUnits are the write units spent until phase 1 (records
	// and phone files) ended: what creating the users costs.
	Phase1WriteUnits float64
	// PBXObjects counts the domain objects the rows became, as the naive
	// design stores them (one item each): user, extension, mailbox,
	// endpoint, directory contact and sealed secrets per row, DID, inbound
	// route and DID owner per DID, MAC owner per phone.
	PBXObjects int
	// ProvisioningFiles is the number of phone config files written; Emails
	// the number of messages SES accepted (welcome and summary).
	ProvisioningFiles int
	Emails            int
	// StandardTransitions of the job's parent (Standard) execution, once
	// per job; RowTransitions are Standard transitions that grow with the
	// rows (none in bulkprov; the naive design's per-row executions).
	StandardTransitions int
	RowTransitions      int
	// Express are the child executions of the Distributed Maps.
	Express []ExpressUsage
	// Functions are the Lambda invocations and their handler time.
	Functions []FunctionUsage
	// Elapsed is the wall time from upload to the job's end.
	Elapsed time.Duration
	// FitFrom are the sizes of the two measured uploads this usage was
	// extrapolated from (Extrapolate); zero when it was measured as is.
	FitFrom []int `json:",omitempty"`
}

// ExpressUsage is one Distributed Map's child executions (the name is
// historical: Type says whether they run EXPRESS or STANDARD).
type ExpressUsage struct {
	Map        string
	Type       string // EXPRESS ("" too) or STANDARD, the ASL's ProcessorConfig.ExecutionType
	Executions int
	Duration   time.Duration // summed over the executions
	// Transitions are the states the children entered, retries included:
	// what STANDARD children bill.
	Transitions int
}

// ChildChoice prices one Distributed Map's children both ways: the type
// the ASL file chose and the other one, for the same work.
type ChildChoice struct {
	Map            string  `json:"map"`
	Type           string  `json:"type"`
	USD            float64 `json:"usd"`
	OtherType      string  `json:"other_type"`
	OtherUSD       float64 `json:"other_usd"`
	WhyNotCheapest string  `json:"why_not_cheapest,omitempty"`
}

// childPrices are a Map's children's price as EXPRESS and as STANDARD.
func (p Prices) childPrices(x ExpressUsage, scale float64) (express, standard float64) {
	express = (float64(x.Executions)*p.SFNExpressPerRequest +
		billedSeconds(x.Duration, x.Executions, p.ExpressDurationStep)*float64(p.ExpressMemoryChunkMB)/1024*p.SFNExpressPerGBSecond) * scale
	standard = float64(x.Transitions) * p.SFNStandardPerTransition * scale
	return express, standard
}

// standardChildren reports whether x's children run as STANDARD executions.
func standardChildren(x ExpressUsage) bool { return x.Type == "STANDARD" }

// FunctionUsage is one Lambda function's invocations.
type FunctionUsage struct {
	Name        string
	MemoryMiB   int
	Invocations int
	Duration    time.Duration // handler time summed over the invocations
	Rows        int           // rows handled (for per-step throughput)
}

// Line is one priced component of an estimate.
type Line struct {
	Service       string  `json:"service"`
	Item          string  `json:"item"`
	Quantity      float64 `json:"quantity"`
	USD           float64 `json:"usd"`
	Orchestration bool    `json:"orchestration,omitempty"`
	Email         bool    `json:"email,omitempty"`
	// Requests is the number of billable requests the line stands for
	// (0 for duration and capacity lines).
	Requests float64 `json:"requests"`
}

// Estimate is the price of Rows rows.
type Estimate struct {
	Rows              int           `json:"rows"`
	Lines             []Line        `json:"lines"`
	CallsPerRow       float64       `json:"calls_per_row"`
	ChildChoices      []ChildChoice `json:"child_choices"`
	USDTotal          float64       `json:"usd_total"`
	USDWithoutEmail   float64       `json:"usd_without_email"`
	USDOrchestration  float64       `json:"usd_orchestration"`
	OrchestrationPart float64       `json:"orchestration_share_without_email"`
}

// MaxRowsPerJob is the system default upload limit (pbx max_rows): rows
// beyond it arrive as further uploads, each its own job.
const MaxRowsPerJob = 100_000

// Estimate prices rows rows from one measured job: per-row work scales with
// the rows; the per-job part (the parent execution's transitions, the
// ingest and finalize invocations) is counted once per upload of at most
// MaxRowsPerJob rows.
func (p Prices) Estimate(u Usage, rows int) Estimate {
	b := newLineBuilder(u.Rows, rows)
	p.addRequestLines(b, u)
	p.addLambdaLines(b, u.Functions)
	choices := p.addStepFunctionsLines(b, u)
	// SES: only accepted messages are billed; GetAccount is free.
	b.add(Line{Service: "SES", Item: "emails", USD: p.SESPerEmail, Email: true}, float64(u.Emails), 0)

	e := Estimate{Rows: rows, Lines: b.lines, ChildChoices: choices}
	e.sum()
	return e
}

// lineBuilder prices lines: a quantity per measured row, scaled to the
// rows priced, plus one per job.
type lineBuilder struct {
	scale float64 // rows priced / rows measured
	jobs  float64 // uploads of at most MaxRowsPerJob rows
	lines []Line
}

func newLineBuilder(measuredRows, rows int) *lineBuilder {
	b := &lineBuilder{jobs: float64((rows + MaxRowsPerJob - 1) / MaxRowsPerJob)}
	if measuredRows > 0 {
		b.scale = float64(rows) / float64(measuredRows)
	}
	return b
}

// add appends l with its quantity; l.USD and l.Requests are per unit.
func (b *lineBuilder) add(l Line, perRow, perJob float64) {
	l.Quantity = perRow*b.scale + perJob*b.jobs
	l.USD *= l.Quantity
	l.Requests *= l.Quantity
	b.lines = append(b.lines, l)
}

// sum totals the lines: all, without email, orchestration, and the
// billable requests per row besides email.
func (e *Estimate) sum() {
	requests := 0.0
	for _, l := range e.Lines {
		e.USDTotal += l.USD
		if !l.Email {
			e.USDWithoutEmail += l.USD
			requests += l.Requests
		}
		if l.Orchestration {
			e.USDOrchestration += l.USD
		}
	}
	if e.Rows > 0 {
		e.CallsPerRow = requests / float64(e.Rows)
	}
	if e.USDWithoutEmail > 0 {
		e.OrchestrationPart = e.USDOrchestration / e.USDWithoutEmail
	}
}

// addRequestLines prices DynamoDB by request units (its API calls only
// count toward the requests), S3 requests by class, and KMS requests.
func (p Prices) addRequestLines(b *lineBuilder, u Usage) {
	var ddbCalls, s3Write, s3Read, kms int
	for op, n := range u.Calls {
		service, name, _ := strings.Cut(op, ".")
		switch service {
		case "DynamoDB":
			ddbCalls += n
		case "S3":
			if s3WriteClass(name) {
				s3Write += n
			} else {
				s3Read += n
			}
		case "KMS":
			kms += n
		}
		// SESv2 bills the emails accepted (a line of its own) and SFN's
		// StartExecution is free: Standard bills transitions.
	}
	b.add(Line{Service: "DynamoDB", Item: "write request units", USD: p.DynamoDBPerWriteUnit}, u.DynamoDBWriteUnits, 0)
	b.add(Line{Service: "DynamoDB", Item: "read request units", USD: p.DynamoDBPerReadUnit}, u.DynamoDBReadUnits, 0)
	// Request counts are priced through units above; they count toward calls.
	b.add(Line{Service: "DynamoDB", Item: "API calls (priced as units)", Requests: 1}, float64(ddbCalls), 0)
	b.add(Line{Service: "S3", Item: "PUT/COPY/POST/LIST requests", USD: p.S3PerWriteRequest, Requests: 1}, float64(s3Write), 0)
	b.add(Line{Service: "S3", Item: "GET and other requests", USD: p.S3PerReadRequest, Requests: 1}, float64(s3Read), 0)
	b.add(Line{Service: "KMS", Item: "requests", USD: p.KMSPerRequest, Requests: 1}, float64(kms), 0)
}

// addLambdaLines prices the invocations (per row, and per job for ingest
// and finalize) and the arm64 GB-seconds.
func (p Prices) addLambdaLines(b *lineBuilder, functions []FunctionUsage) {
	rowInvocations, jobInvocations, gbSeconds := 0, 0, 0.0
	for _, f := range functions {
		if perJobFunction(f.Name) {
			jobInvocations += f.Invocations
		} else {
			rowInvocations += f.Invocations
		}
		gbSeconds += billedSeconds(f.Duration, f.Invocations, p.LambdaDurationStep) * float64(f.MemoryMiB) / 1024
	}
	b.add(Line{Service: "Lambda", Item: "requests", USD: p.LambdaPerRequest, Requests: 1}, float64(rowInvocations), float64(jobInvocations))
	b.add(Line{Service: "Lambda", Item: "arm64 GB-seconds", USD: p.LambdaArm64PerGBSecond}, gbSeconds, 0)
}

// addStepFunctionsLines prices the parent's Standard transitions and each
// Distributed Map's children as the ASL file runs them (EXPRESS requests
// and GB-seconds, or STANDARD transitions), and returns each Map's children
// priced both ways.
func (p Prices) addStepFunctionsLines(b *lineBuilder, u Usage) []ChildChoice {
	b.add(Line{Service: "Step Functions", Item: "Standard state transitions", USD: p.SFNStandardPerTransition,
		Orchestration: true, Requests: 1}, float64(u.RowTransitions), float64(u.StandardTransitions))
	executions, expressGBs, childTransitions := 0, 0.0, 0
	var choices []ChildChoice
	for _, x := range u.Express {
		express, standard := p.childPrices(x, b.scale)
		c := ChildChoice{Map: x.Map, Type: "EXPRESS", USD: express, OtherType: "STANDARD", OtherUSD: standard}
		if standardChildren(x) {
			childTransitions += x.Transitions
			c = ChildChoice{Map: x.Map, Type: "STANDARD", USD: standard, OtherType: "EXPRESS", OtherUSD: express}
		} else {
			executions += x.Executions
			expressGBs += billedSeconds(x.Duration, x.Executions, p.ExpressDurationStep) * float64(p.ExpressMemoryChunkMB) / 1024
		}
		if c.OtherUSD < c.USD {
			c.WhyNotCheapest = "a child's worst case is longer than an EXPRESS execution's 5 minutes (SES pacing)"
		}
		choices = append(choices, c)
	}
	b.add(Line{Service: "Step Functions", Item: "Express requests", USD: p.SFNExpressPerRequest, Orchestration: true, Requests: 1}, float64(executions), 0)
	b.add(Line{Service: "Step Functions", Item: "Express GB-seconds", USD: p.SFNExpressPerGBSecond, Orchestration: true}, expressGBs, 0)
	b.add(Line{Service: "Step Functions", Item: "Standard child transitions", USD: p.SFNStandardPerTransition,
		Orchestration: true, Requests: 1}, float64(childTransitions), 0)
	return choices
}

// s3WriteClass: the operations S3 bills at the PUT/COPY/POST/LIST rate.
func s3WriteClass(op string) bool {
	switch {
	case strings.HasPrefix(op, "Put"), strings.HasPrefix(op, "Copy"), strings.HasPrefix(op, "List"),
		strings.HasPrefix(op, "Create"), strings.HasPrefix(op, "Complete"), strings.HasPrefix(op, "Upload"),
		op == "RestoreObject", op == "SelectObjectContent":
		return true
	}
	return false
}

// billedSeconds: n invocations taking total time together, each rounded up
// to step (the mean stands for each one).
func billedSeconds(total time.Duration, n int, step time.Duration) float64 {
	if n == 0 {
		return 0
	}
	mean := float64(total) / float64(n)
	if step > 0 {
		mean = math.Ceil(mean/float64(step)) * float64(step)
	}
	return mean * float64(n) / float64(time.Second)
}

// Naive design, priced by the same model: one Standard execution per row
// running one Lambda per step (NaiveStatesPerRow states), one PutItem per
// object, no batching (a data key per row, a Decrypt per phone file and per
// email, no per-batch result files).
const NaiveStatesPerRow = 3

// perJobFunction reports whether a function runs once per job, whatever
// the number of rows.
func perJobFunction(name string) bool { return name == "ingest" || name == "finalize" }

// perRowStep reports whether a naive design invokes the function once per row.
func perRowStep(name string) bool {
	return name == "create-records" || name == "write-provisioning" || name == "send-welcome"
}

// NaiveUsage derives the naive design's usage from a measured one: the same
// rows, objects, files, emails and handler time.
func NaiveUsage(u Usage) Usage {
	n := Usage{
		Rows: u.Rows,
		Calls: map[string]int{
			"DynamoDB.PutItem":    u.PBXObjects,
			"KMS.GenerateDataKey": u.Rows,
			"KMS.Decrypt":         u.ProvisioningFiles + u.Emails,
			"S3.PutObject":        1 + u.ProvisioningFiles, // the upload and the phone files
			"S3.GetObject":        1,                       // ingest reads the upload
		},
		// One PutItem (1 unit, each object within 1 KB) per PBX object
		// instead of the rows' items; every other write as measured but
		// outside transactions (half the units); reads as measured.
		DynamoDBWriteUnits: u.DynamoDBWriteUnits - u.DynamoDBTransactWriteUnits/2 - u.DynamoDBTransactPutUnits/2 + float64(u.PBXObjects),
		DynamoDBReadUnits:  u.DynamoDBReadUnits,
		ObjectsWritten:     u.PBXObjects,
		PBXObjects:         u.PBXObjects,
		ItemWrites:         u.ItemWrites - u.ObjectsWritten + u.PBXObjects,
		Phase1WriteUnits:   float64(u.PBXObjects),
		ProvisioningFiles:  u.ProvisioningFiles,
		Emails:             u.Emails,
		// Each row's execution: NaiveStatesPerRow task states.
		RowTransitions: NaiveStatesPerRow * u.Rows,
		Elapsed:        u.Elapsed,
	}
	for op, c := range u.Calls {
		if strings.HasPrefix(op, "DynamoDB.") && !strings.HasPrefix(op, "DynamoDB.Transact") {
			n.Calls[op] += c // the reads and job updates stay
		}
	}
	for _, f := range u.Functions {
		if perRowStep(f.Name) {
			f.Invocations = u.Rows
		}
		n.Functions = append(n.Functions, f)
	}
	sort.Slice(n.Functions, func(i, j int) bool { return n.Functions[i].Name < n.Functions[j].Name })
	return n
}

// FreshTableWriteUnitsPerSecond is what a new on-demand table absorbs
// before it scales: AWS sizes it for 4,000 write request units per second
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html,
// "Initial throughput for on-demand capacity mode").
const FreshTableWriteUnitsPerSecond = 4000

// ProdWarmWriteUnitsPerSecond is the warm write throughput infra/stack.go
// sets on the prod stage's table (a test keeps the two equal).
const ProdWarmWriteUnitsPerSecond = 12000

// WriteBoundSeconds is how long DynamoDB needs to absorb writeUnits at
// unitsPerSecond: the lower bound on the time to create the rows whatever
// the Lambda concurrency.
func WriteBoundSeconds(writeUnits, unitsPerSecond float64) float64 {
	if unitsPerSecond <= 0 {
		return 0
	}
	return writeUnits / unitsPerSecond
}
