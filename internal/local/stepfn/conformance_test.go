package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

type namedError struct{ name string }

func (e *namedError) Error() string     { return "failed with " + e.name }
func (e *namedError) ErrorName() string { return e.name }

// conformanceTasks are the resources the conformance documents call.
// "flaky" fails with input.error for its first input.failures calls.
func conformanceTasks(calls *sync.Map) map[string]Handler {
	count := func(name string) int {
		v, _ := calls.LoadOrStore(name, new(int))
		p := v.(*int)
		*p++ // each test runs its flaky task sequentially
		return *p
	}
	type failIn struct {
		Error    string `json:"error"`
		Failures int    `json:"failures"`
		Fail     bool   `json:"fail"`
	}
	return map[string]Handler{
		"echo": func(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil },
		"fail": Typed(func(_ context.Context, in failIn) (any, error) { return nil, &namedError{in.Error} }),
		"flaky": Typed(func(_ context.Context, in failIn) (map[string]int, error) {
			n := count("flaky")
			if n <= in.Failures {
				return nil, &namedError{in.Error}
			}
			return map[string]int{"calls": n}, nil
		}),
		"failIf": Typed(func(_ context.Context, in failIn) (failIn, error) {
			if in.Fail {
				return in, &namedError{"Custom"}
			}
			return in, nil
		}),
		"errstring": func(context.Context, json.RawMessage) (json.RawMessage, error) { return nil, errors.New("boom") },
		"panic":     func(context.Context, json.RawMessage) (json.RawMessage, error) { panic("crash") },
		"block": func(ctx context.Context, _ json.RawMessage) (json.RawMessage, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	}
}

// jsonEq fails t unless got and want are the same JSON value.
func jsonEq(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("output = %s\nwant     %s", got, want)
	}
}

// conformanceCase is one document run on one input, with the outcome the
// States Language specification gives.
type conformanceCase struct {
	name      string
	asl       string
	input     string
	want      string // expected output, when the execution succeeds
	wantErr   string // expected error name, when it fails
	wantCause string // substring of the cause
	sleeps    []time.Duration
	calls     int // flaky's calls, when checked
}

var conformanceCases = []conformanceCase{
	{name: "Pass Parameters, InputPath, ResultPath, OutputPath",
		asl: `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.in","Parameters":{"a.$":"$.x","b":"static","c.$":"$['y z']","d.$":"$.list[1]"},
				"ResultPath":"$.r","OutputPath":"$.r","End":true}}}`,
		input: `{"in":{"x":1,"y z":"q","list":[10,20]}}`, want: `{"a":1,"b":"static","c":"q","d":20}`},
	{name: "ResultPath creates nested fields and keeps the input",
		asl:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"ResultPath":"$.a.b","End":true}}}`,
		input: `{"k":1,"a":{"z":2}}`, want: `{"k":1,"a":{"z":2,"b":{"ok":true}}}`},
	{name: "ResultPath null passes the input through",
		asl:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"echo","Parameters":{"x":1},"ResultPath":null,"End":true}}}`,
		input: `{"keep":"me"}`, want: `{"keep":"me"}`},
	{name: "OutputPath null gives an empty object",
		asl:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"echo","OutputPath":null,"End":true}}}`,
		input: `{"keep":"me"}`, want: `{}`},
	{name: "ResultSelector shapes the task result before ResultPath",
		asl:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"echo","ResultSelector":{"got.$":"$.v"},"ResultPath":"$.res","End":true}}}`,
		input: `{"v":7}`, want: `{"v":7,"res":{"got":7}}`},
	{name: "context object",
		asl:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"exec.$":"$$.Execution.Name","state.$":"$$.State.Name","in.$":"$$.Execution.Input.v"},"End":true}}}`,
		input: `{"v":"x"}`, want: `{"exec":"run","state":"P","in":"x"}`},
	{name: "intrinsic functions",
		asl: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{
				"f.$":"States.Format('{} has {} rows, ok={}', $.name, $.n, $.ok)",
				"j.$":"States.StringToJson($.s)","s.$":"States.JsonToString($.obj)",
				"a.$":"States.Array(1, 'two', $.n)","m.$":"States.MathAdd($.n, -2)",
				"nested.$":"States.Format('sum={}', States.MathAdd($.n, 1))","q.$":"States.Format('it\\'s {}', 'x')"},"End":true}}}`,
		input: `{"name":"job","n":5,"ok":true,"s":"{\"k\":[1]}","obj":{"b":1}}`,
		want:  `{"f":"job has 5 rows, ok=true","j":{"k":[1]},"s":"{\"b\":1}","a":[1,"two",5],"m":3,"nested":"sum=6","q":"it's x"}`},
	{name: "a missing Parameters path is States.Runtime, which States.ALL does not catch",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"echo","Parameters":{"a.$":"$.missing"},
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`,
		input: `{}`, wantErr: ErrRuntime, wantCause: "$.missing"},
	{name: "intrinsic failure is catchable",
		asl: `{"StartAt":"P","States":{"P":{"Type":"Task","Resource":"echo","Parameters":{"a.$":"States.StringToJson($.s)"},
				"Catch":[{"ErrorEquals":["States.IntrinsicFailure"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Pass","OutputPath":"$.err.Error","End":true}}}`,
		input: `{"s":"{not json"}`, want: `"States.IntrinsicFailure"`},
	{name: "Choice string, numeric, And/Not, IsPresent",
		asl: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[
				{"Variable":"$.w","StringEquals":"none","Next":"None"},
				{"And":[{"Variable":"$.n","NumericGreaterThanEquals":10},{"Not":{"Variable":"$.skip","IsPresent":true}}],"Next":"Big"},
				{"Or":[{"Variable":"$.n","NumericLessThan":0},{"Variable":"$.w","StringMatches":"x*z"}],"Next":"Odd"}],
				"Default":"Other"},
				"None":{"Type":"Pass","Result":"none","End":true},"Big":{"Type":"Pass","Result":"big","End":true},
				"Odd":{"Type":"Pass","Result":"odd","End":true},"Other":{"Type":"Pass","Result":"other","End":true}}}`,
		input: `{"w":"x-to-z","n":12,"skip":true}`, want: `"odd"`},
	{name: "Choice numeric path comparison",
		asl: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","NumericGreaterThanPath":"$.b","Next":"Y"}],"Default":"N"},
				"Y":{"Type":"Pass","Result":"yes","End":true},"N":{"Type":"Pass","Result":"no","End":true}}}`,
		input: `{"a":3,"b":2.5}`, want: `"yes"`},
	{name: "Choice type mismatch is false, then Default",
		asl: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringEquals":"1","Next":"Y"}],"Default":"N"},
				"Y":{"Type":"Pass","Result":"yes","End":true},"N":{"Type":"Pass","Result":"no","End":true}}}`,
		input: `{"a":1}`, want: `"no"`},
	{name: "Choice without match or Default",
		asl:   `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","BooleanEquals":true,"Next":"Y"}]},"Y":{"Type":"Succeed"}}}`,
		input: `{"a":false}`, wantErr: ErrNoChoiceMatched},
	{name: "Fail state",
		asl:   `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Job.Bad","Cause":"because"}}}`,
		input: `{}`, wantErr: "Job.Bad", wantCause: "because"},
	{name: "Retry backoff with MaxDelaySeconds, NONE jitter",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"flaky","Retry":[{"ErrorEquals":["Custom"],"IntervalSeconds":1,"BackoffRate":2,
				"MaxAttempts":5,"MaxDelaySeconds":3,"JitterStrategy":"NONE"}],"End":true}}}`,
		input: `{"error":"Custom","failures":4}`, want: `{"calls":5}`, calls: 5,
		sleeps: []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
	{name: "Retry defaults: 3 attempts, 1 s, rate 2",
		asl:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"flaky","Retry":[{"ErrorEquals":["States.ALL"]}],"End":true}}}`,
		input: `{"error":"Custom","failures":9}`, wantErr: "Custom", calls: 4,
		sleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}},
	{name: "MaxAttempts 0 never retries; Catch with ResultPath",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"flaky","Retry":[{"ErrorEquals":["Custom"],"MaxAttempts":0}],
				"Catch":[{"ErrorEquals":["Other"],"Next":"X"},{"ErrorEquals":["Custom"],"ResultPath":"$.err","Next":"Y"}],"End":true},
				"X":{"Type":"Fail","Error":"wrong"},"Y":{"Type":"Pass","End":true}}}`,
		input: `{"error":"Custom","failures":1}`, calls: 1,
		want: `{"error":"Custom","failures":1,"err":{"Error":"Custom","Cause":"{\"errorMessage\":\"failed with Custom\",\"errorType\":\"Custom\"}"}}`},
	{name: "the first matching Retrier decides, even when used up",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"flaky","Retry":[{"ErrorEquals":["Custom"],"MaxAttempts":1,"JitterStrategy":"NONE"},
				{"ErrorEquals":["States.ALL"],"MaxAttempts":5}],"End":true}}}`,
		input: `{"error":"Custom","failures":9}`, wantErr: "Custom", calls: 2, sleeps: []time.Duration{time.Second}},
	{name: "States.TaskFailed matches a handler's error",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"flaky","Retry":[{"ErrorEquals":["States.TaskFailed"],"MaxAttempts":1}],
				"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"C"}],"End":true},"C":{"Type":"Pass","Result":"caught","End":true}}}`,
		input: `{"error":"Lambda.ServiceException","failures":9}`, want: `"caught"`, calls: 2, sleeps: []time.Duration{-1}},
	{name: "Go error type name is the error name",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"errstring","Catch":[{"ErrorEquals":["errorString"],"Next":"C"}],"End":true},
				"C":{"Type":"Pass","End":true}}}`,
		input: `{}`, want: `{"Error":"errorString","Cause":"{\"errorMessage\":\"boom\",\"errorType\":\"errorString\"}"}`},
	{name: "a panic is Runtime.ExitError",
		asl:   `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"panic","End":true}}}`,
		input: `{}`, wantErr: ErrExitError, wantCause: "crash"},
	{name: "TimeoutSeconds is States.Timeout, which States.TaskFailed does not match",
		asl: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"block","TimeoutSeconds":1,
				"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"F"},{"ErrorEquals":["States.Timeout"],"Next":"C"}],"End":true},
				"F":{"Type":"Fail","Error":"wrong"},"C":{"Type":"Pass","Result":"timed out","End":true}}}`,
		input: `{}`, want: `"timed out"`},
	{name: "inline Map with ItemSelector and the Map context",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":1,
				"ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","job.$":"$.job"},
				"ItemProcessor":{"StartAt":"E","States":{"E":{"Type":"Task","Resource":"echo","End":true}}},"ResultPath":"$.out","End":true}}}`,
		input: `{"job":"j","items":["a","b","c"]}`,
		want:  `{"job":"j","items":["a","b","c"],"out":[{"i":0,"v":"a","job":"j"},{"i":1,"v":"b","job":"j"},{"i":2,"v":"c","job":"j"}]}`},
	{name: "inline Map fails with its iteration's error",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"E","States":{"E":{"Type":"Task","Resource":"failIf","End":true}}},
				"Catch":[{"ErrorEquals":["Custom"],"ResultPath":"$.err","Next":"C"}],"End":true},"C":{"Type":"Pass","OutputPath":"$.err.Error","End":true}}}`,
		input: `{"items":[{"fail":false},{"fail":true}]}`, want: `"Custom"`},
	{name: "ResultPath into a non-object is States.Runtime",
		asl:   `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"ResultPath":"$.a.b","End":true}}}`,
		input: `{"a":[1]}`, wantErr: ErrRuntime, wantCause: "cannot set field"},
	{name: "Map tolerates failures up to ToleratedFailureCount",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
				"StartAt":"E","States":{"E":{"Type":"Task","Resource":"failIf","TimeoutSeconds":60,"OutputPath":"$.fail","End":true}}},"ToleratedFailureCount":2,"End":true}}}`,
		input: `[{"fail":false},{"fail":true},{"fail":true},{"fail":false}]`,
		want:  `[false,{"Error":"Custom","Cause":"{\"errorMessage\":\"failed with Custom\",\"errorType\":\"Custom\"}"},{"Error":"Custom","Cause":"{\"errorMessage\":\"failed with Custom\",\"errorType\":\"Custom\"}"},false]`},
	{name: "Map beyond ToleratedFailurePercentagePath",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
				"StartAt":"E","States":{"E":{"Type":"Task","Resource":"failIf","TimeoutSeconds":60,"End":true}}},"ToleratedFailurePercentagePath":"$.pct",
				"Catch":[{"ErrorEquals":["States.ExceedToleratedFailureThreshold"],"ResultPath":"$.err","Next":"C"}],"End":true},
				"C":{"Type":"Pass","OutputPath":"$.err.Error","End":true}}}`,
		input: `{"pct":25,"items":[{"fail":false},{"fail":true},{"fail":true},{"fail":false}]}`, want: `"States.ExceedToleratedFailureThreshold"`},
	{name: "distributed Map fails on any failure by default",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
				"StartAt":"E","States":{"E":{"Type":"Task","Resource":"failIf","TimeoutSeconds":60,"End":true}}},"End":true}}}`,
		input: `[{"fail":false},{"fail":true}]`, wantErr: ErrExceedToleratedFails, wantCause: "1 of 2 items failed"},
	{name: "ItemBatcher batches by count with BatchInput",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemBatcher":{"MaxItemsPerBatchPath":"$.size","BatchInput":{"job.$":"$.job","fixed":1}},
				"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"E","States":{"E":{"Type":"Task","Resource":"echo","TimeoutSeconds":60,"End":true}}},"End":true}}}`,
		input: `{"job":"j","size":2,"items":[1,2,3,4,5]}`,
		want:  `[{"BatchInput":{"job":"j","fixed":1},"Items":[1,2]},{"BatchInput":{"job":"j","fixed":1},"Items":[3,4]},{"BatchInput":{"job":"j","fixed":1},"Items":[5]}]`},
	{name: "ItemBatcher bounds batches by bytes",
		asl: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemBatcher":{"MaxItemsPerBatch":100,"MaxInputBytesPerBatch":30},
				"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"E","States":{"E":{"Type":"Task","Resource":"echo","TimeoutSeconds":60,"End":true}}},"End":true}}}`,
		input: `["aaaa","bbbb","cccc","dddd"]`,
		want:  `[{"Items":["aaaa","bbbb"]},{"Items":["cccc","dddd"]}]`},
	{name: "Parallel",
		asl: `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"End":true}}},
				{"StartAt":"B","States":{"B":{"Type":"Pass","InputPath":"$.x","End":true}}}],"End":true}}}`,
		input: `{"x":"y"}`, want: `[1,"y"]`},
}

func TestConformance(t *testing.T) {
	for _, tt := range conformanceCases {
		t.Run(tt.name, func(t *testing.T) { checkConformance(t, tt) })
	}
}

// checkConformance runs tt's document with the conformance tasks and checks
// its output or error, flaky's calls and the retry sleeps.
func checkConformance(t *testing.T, tt conformanceCase) {
	var calls sync.Map
	sl := &sleeps{}
	engine, err := Load([]byte(tt.asl), Options{Tasks: conformanceTasks(&calls), Sleep: sl.sleep})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer engine.Close()
	out, err := engine.Run(context.Background(), "run", json.RawMessage(tt.input))
	if tt.wantErr != "" {
		var xe *ExecutionError
		if !errors.As(err, &xe) || xe.Name != tt.wantErr || !strings.Contains(xe.Cause, tt.wantCause) {
			t.Fatalf("error = %v, want %s with cause containing %q", err, tt.wantErr, tt.wantCause)
		}
		x, _ := engine.Execution("run")
		if st := x.Describe().Status; st != StatusFailed {
			t.Errorf("status = %s, want FAILED", st)
		}
	} else {
		if err != nil {
			t.Fatalf("execution failed: %v", err)
		}
		jsonEq(t, out, tt.want)
	}
	if tt.calls > 0 {
		v, _ := calls.Load("flaky")
		if n := *v.(*int); n != tt.calls {
			t.Errorf("flaky called %d times, want %d", n, tt.calls)
		}
	}
	got := sl.delays()
	if len(got) != len(tt.sleeps) {
		t.Fatalf("retry sleeps = %v, want %v", got, tt.sleeps)
	}
	for i, d := range tt.sleeps {
		if d >= 0 && got[i] != d { // -1: any delay (jittered)
			t.Errorf("retry sleep %d = %v, want %v", i, got[i], d)
		}
	}
}

func TestFullJitterStaysWithinTheBackoff(t *testing.T) {
	var calls sync.Map
	sl := &sleeps{}
	asl := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"flaky","Retry":[{"ErrorEquals":["Custom"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":20,"MaxDelaySeconds":30,"JitterStrategy":"FULL"}],"End":true}}}`
	engine, err := Load([]byte(asl), Options{Tasks: conformanceTasks(&calls), Sleep: sl.sleep})
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	if _, err := engine.Run(context.Background(), "j", json.RawMessage(`{"error":"Custom","failures":20}`)); err != nil {
		t.Fatal(err)
	}
	delays := sl.delays()
	if len(delays) != 20 {
		t.Fatalf("%d sleeps, want 20", len(delays))
	}
	distinct := map[time.Duration]bool{}
	for i, d := range delays {
		bound := min(2*time.Second*time.Duration(pow(3, i)), 30*time.Second)
		if d < 0 || d >= bound {
			t.Errorf("sleep %d = %v, want in [0, %v)", i, d, bound)
		}
		distinct[d] = true
	}
	if len(distinct) < 10 {
		t.Errorf("only %d distinct delays in 20: jitter is not random", len(distinct))
	}
}

func pow(b, e int) int {
	r := 1
	for range e {
		r *= b
		if r > 1<<20 {
			return 1 << 20
		}
	}
	return r
}

func TestLoadErrors(t *testing.T) {
	task := func(extra string) string {
		return `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"echo",` + extra + `"End":true},"C":{"Type":"Succeed"}}}`
	}
	tests := []struct {
		name, asl, want string
	}{
		{"States.ALL not alone", task(`"Retry":[{"ErrorEquals":["States.ALL","Custom"]}],`), "States.ALL must appear alone"},
		{"States.ALL not last", task(`"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"},{"ErrorEquals":["X"],"Next":"C"}],`), "States.ALL must appear alone"},
		{"unknown States error", task(`"Retry":[{"ErrorEquals":["States.Nope"]}],`), `unknown error name "States.Nope"`},
		{"unsupported field", task(`"HeartbeatSeconds":5,`), `state "T": field "HeartbeatSeconds" is not supported`},
		{"unsupported state type", `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}}`, `state "W": Type "Wait" is not supported`},
		{"unknown Next", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"Nowhere"}}}`, `transition to unknown state "Nowhere"`},
		{"Next and End", `{"StartAt":"P","States":{"P":{"Type":"Pass","Next":"P","End":true}}}`, "exactly one of Next and End"},
		{"unknown handler", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:x","End":true}}}`, `state "T": Resource "arn:x": no handler`},
		{"unknown intrinsic", task(`"Parameters":{"a.$":"States.UUID()"},`), `unsupported intrinsic function "States.UUID"`},
		{"unsupported JSONPath", task(`"Parameters":{"a.$":"$.items[*].id"},`), "unsupported selector [*]"},
		{"JSONata", `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, "QueryLanguage \"JSONata\" is not supported"},
		{"unsubstituted placeholder", `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"${Missing}","End":true}}}`, "no substitution for ${Missing}"},
		{"ItemReader without S3", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{"Resource":"arn:aws:states:::s3:listObjectsV2","Parameters":{"Bucket":"b"}},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"E","States":{"E":{"Type":"Succeed"}}},"End":true}}}`, "Options.S3 is required"},
		{"unsupported ReaderConfig", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemReader":{"Resource":"arn:aws:states:::s3:getObject","ReaderConfig":{"InputType":"PARQUET"},"Parameters":{"Bucket":"b","Key":"k"}},
			"ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},"StartAt":"E","States":{"E":{"Type":"Succeed"}}},"End":true}}}`, `state "M": ItemReader: ReaderConfig.InputType "PARQUET" is not supported`},
		{"nested state error names its path", `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"E","States":{"E":{"Type":"Task","Resource":"echo","Bogus":1,"End":true}}},"End":true}}}`,
			`state "M": ItemProcessor: state "E": field "Bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls sync.Map
			_, err := Load([]byte(tt.asl), Options{Tasks: conformanceTasks(&calls)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
