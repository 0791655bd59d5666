package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestExpressChildrenFitFiveMinutes computes, from the deployed ASL file,
// the worst case of every Distributed Map child: each Task's TimeoutSeconds
// x (1 + retries of every Retrier) + the longest back-off, in sequence.
// Every EXPRESS child must end within AWS's 5 minutes by construction.
func TestExpressChildrenFitFiveMinutes(t *testing.T) {
	budgets, err := ChildBudgets(readASL(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ChildBudget{}
	for _, b := range budgets {
		got[b.Map] = b
		for _, tb := range b.Path {
			t.Logf("%s/%s: %s x %d attempts + %s back-off = %s", b.Map, tb.State, tb.Timeout, tb.Attempts, tb.Backoff, tb.Worst)
		}
		t.Logf("%s (%s children): worst case %s", b.Map, b.ExecutionType, b.Worst)
		if !b.Fits() {
			t.Errorf("%s: an EXPRESS child can run %s, more than %s", b.Map, b.Worst, ExpressMaxDuration)
		}
	}
	// Phase 1 EXPRESS: 2 Tasks x (25 s x 5 attempts + 1+2 s + 2+4 s) = 268 s.
	if p1 := got["CreateUsers"]; p1.ExecutionType != "EXPRESS" || p1.Worst != 268*time.Second || len(p1.Path) != 2 {
		t.Errorf("phase 1 = %+v, want EXPRESS children with a 268 s worst case over 2 Tasks", p1)
	}
	// Phase 2 STANDARD: paced by SES, no 5-minute limit (900 s x 9 attempts + 57 s).
	if p2 := got["SendWelcomeEmails"]; p2.ExecutionType != "STANDARD" || p2.Worst != 8157*time.Second {
		t.Errorf("phase 2 = %+v, want STANDARD children with a 8157 s worst case", p2)
	}
}

func TestChildBudgetsRefuseUnboundedExpressChildren(t *testing.T) {
	for name, tc := range map[string]struct{ asl, want string }{
		"no TimeoutSeconds": {`{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
			"StartAt":"E","States":{"E":{"Type":"Task","Resource":"r","End":true}}},"End":true}}}`, `task "E" has no TimeoutSeconds`},
		"a loop": {`{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
			"StartAt":"E","States":{"E":{"Type":"Task","Resource":"r","TimeoutSeconds":1,"Next":"C"},
			"C":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"E"}],"Default":"D"},"D":{"Type":"Succeed"}}},"End":true}}}`, `is on a loop`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ChildBudgets([]byte(tc.asl))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ChildBudgets = %v, want %q", err, tc.want)
			}
		})
	}
	// Retriers count separately; ASL's defaults (1 s, 3 attempts, rate 2)
	// apply; MaxDelaySeconds caps each wait; Catch paths count.
	asl := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
		"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"a","TimeoutSeconds":10,"Retry":[{"ErrorEquals":["X"]},{"ErrorEquals":["Y"],"IntervalSeconds":5,"MaxAttempts":3,"BackoffRate":3,"MaxDelaySeconds":10}],
			"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Slow"}],"Next":"Fast"},
		"Fast":{"Type":"Task","Resource":"f","TimeoutSeconds":1,"End":true},
		"Slow":{"Type":"Task","Resource":"s","TimeoutSeconds":50,"End":true}}},"End":true}}}`
	budgets, err := ChildBudgets([]byte(asl))
	if err != nil {
		t.Fatal(err)
	}
	// A: 7 attempts x 10 s + (1+2+4) + (5+10+10) = 102 s; then Slow: 50 s.
	if len(budgets) != 1 || budgets[0].Worst != 152*time.Second || budgets[0].Path[1].State != "Slow" {
		t.Fatalf("budgets = %+v, want 152 s through Slow", budgets)
	}
	// Over 5 minutes: Load refuses it.
	long := strings.Replace(asl, `"TimeoutSeconds":50`, `"TimeoutSeconds":200`, 1)
	tasks := map[string]Handler{"a": echo, "f": echo, "s": echo}
	if _, err := Load([]byte(long), Options{Tasks: tasks}); err == nil || !strings.Contains(err.Error(), "longer than the 5m0s AWS allows") {
		t.Fatalf("Load = %v, want refused", err)
	}
	if _, err := Load([]byte(long), Options{Tasks: tasks, AllowLongExpressChildren: true}); err != nil {
		t.Fatal(err)
	}
}

func echo(_ context.Context, in json.RawMessage) (json.RawMessage, error) { return in, nil }

// TestExpressChildStoppedAtFiveMinutes: an EXPRESS child that runs longer
// than 5 minutes (on a 1000x clock) fails with States.Timeout while its Task
// still had time; a STANDARD child of the same length succeeds.
func TestExpressChildStoppedAtFiveMinutes(t *testing.T) {
	slow := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		select {
		case <-time.After(400 * time.Millisecond): // 400 s on the fast clock
			return in, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, typ := range []string{"EXPRESS", "STANDARD"} {
		t.Run(typ, func(t *testing.T) {
			asl := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"` + typ + `"},
				"StartAt":"E","States":{"E":{"Type":"Task","Resource":"slow","TimeoutSeconds":900,"End":true}}},"End":true}}}`
			e, err := Load([]byte(asl), Options{Tasks: map[string]Handler{"slow": slow}, TimeScale: 0.001, AllowLongExpressChildren: true})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			_, err = e.Run(context.Background(), "x", json.RawMessage(`[1]`))
			var xe *ExecutionError
			switch {
			case typ == "STANDARD" && err != nil:
				t.Fatalf("STANDARD child: %v", err)
			case typ == "EXPRESS" && (!errors.As(err, &xe) || xe.Name != ErrExceedToleratedFails || !strings.Contains(xe.Cause, "States.Timeout: state \"M\": the EXPRESS child execution of item 0 ran longer than 5m0s")):
				t.Fatalf("EXPRESS child: %v, want the Map failed by the child's States.Timeout", err)
			}
		})
	}
}

// TestMapConcurrencyLimits: an inline Map runs at most 40 iterations at
// once whatever MaxConcurrency says, as Step Functions does.
func TestMapConcurrencyLimits(t *testing.T) {
	var running, peak atomic.Int32
	wait := func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return in, nil
	}
	asl := `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":0,"ItemProcessor":{"StartAt":"E","States":{"E":{"Type":"Task","Resource":"w","End":true}}},"End":true}}}`
	e, err := Load([]byte(asl), Options{Tasks: map[string]Handler{"w": wait}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	items, _ := json.Marshal(make([]int, 120))
	if _, err := e.Run(context.Background(), "x", items); err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > MaxInlineConcurrency || p < 2 {
		t.Fatalf("peak concurrency = %d, want 2..%d", p, MaxInlineConcurrency)
	}
}

func TestTaskTimeoutsOfTheDeployedFile(t *testing.T) {
	got, err := TaskTimeouts(readASL(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"${CreateRecordsFunctionArn}": 25, "${WriteProvisioningFunctionArn}": 25, "${SendWelcomeFunctionArn}": 900, "${FinalizeFunctionArn}": 300}
	if len(got) != len(want) {
		t.Fatalf("TaskTimeouts = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("TaskTimeouts[%s] = %d, want %d", k, got[k], v)
		}
	}
	if _, err := TaskTimeouts([]byte(`{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"r","TimeoutSeconds":1,"Next":"B"},"B":{"Type":"Task","Resource":"r","TimeoutSeconds":2,"End":true}}}`)); err == nil {
		t.Error("two timeouts for one function: no error")
	}
}
