package stepfn

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// TaskBudget is the longest one Task state can take: every attempt (the
// first and each retry of every Retrier) running to TimeoutSeconds, and
// every retry waiting its longest back-off (full jitter never waits longer).
type TaskBudget struct {
	State    string
	Resource string
	Timeout  time.Duration
	Attempts int
	Backoff  time.Duration
	Worst    time.Duration
}

// ChildBudget is the longest path through a Distributed Map's child
// execution: its Tasks' worst cases in sequence.
type ChildBudget struct {
	Map           string
	ExecutionType string // EXPRESS or STANDARD
	Worst         time.Duration
	Path          []TaskBudget // the Tasks of the longest path, in order
}

// Fits reports whether an EXPRESS child always ends before AWS stops it.
func (b ChildBudget) Fits() bool {
	return b.ExecutionType != "EXPRESS" || b.Worst <= ExpressMaxDuration
}

type rawState struct {
	Type           string
	Next           string
	Default        string
	Choices        []struct{ Next string }
	Catch          []struct{ Next string }
	Retry          []rawRetrier
	Resource       string
	TimeoutSeconds *int
	ItemProcessor  *rawMachine
	Iterator       *rawMachine
	Branches       []rawMachine
}

type rawRetrier struct {
	ErrorEquals     []string
	IntervalSeconds *float64
	MaxAttempts     *int
	BackoffRate     *float64
	MaxDelaySeconds *float64
}

type rawMachine struct {
	StartAt         string
	States          map[string]rawState
	ProcessorConfig struct{ Mode, ExecutionType string }
}

// ChildBudgets computes, from the definition alone, the worst-case duration
// of every Distributed Map's child execution. A child with a Task without
// TimeoutSeconds, a loop, or a nested Map or Parallel has no bound: that is
// an error for an EXPRESS child (it could outlive 5 minutes).
func ChildBudgets(definition []byte) ([]ChildBudget, error) {
	var out []ChildBudget
	err := eachState(definition, func(name string, st rawState) error {
		proc := st.ItemProcessor
		if proc == nil {
			proc = st.Iterator
		}
		if proc == nil || proc.ProcessorConfig.Mode != "DISTRIBUTED" {
			return nil
		}
		b := ChildBudget{Map: name, ExecutionType: proc.ProcessorConfig.ExecutionType}
		worst, path, err := longestPath(proc)
		switch {
		case err != nil && b.ExecutionType == "EXPRESS":
			return fmt.Errorf("stepfn: state %q: EXPRESS children have no bounded duration: %w", name, err)
		case err != nil:
			b.Worst = -1 // STANDARD: unbounded is allowed (a year)
		default:
			b.Worst, b.Path = worst, path
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachState parses a definition and calls visit for every state, in name
// order, each state before the states of its Map processor and Parallel
// branches; the first error stops the walk.
func eachState(definition []byte, visit func(name string, st rawState) error) error {
	var top rawMachine
	if err := json.Unmarshal(definition, &top); err != nil {
		return fmt.Errorf("stepfn: definition: %w", err)
	}
	var walk func(m *rawMachine) error
	walk = func(m *rawMachine) error {
		for _, name := range sortedStates(m) {
			st := m.States[name]
			if err := visit(name, st); err != nil {
				return err
			}
			for _, p := range []*rawMachine{st.ItemProcessor, st.Iterator} {
				if p != nil {
					if err := walk(p); err != nil {
						return err
					}
				}
			}
			for i := range st.Branches {
				if err := walk(&st.Branches[i]); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(&top)
}

func sortedStates(m *rawMachine) []string {
	names := make([]string, 0, len(m.States))
	for n := range m.States {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// longestPath is the worst case from StartAt to any end, over Next,
// Choices, Default and Catch edges.
func longestPath(m *rawMachine) (time.Duration, []TaskBudget, error) {
	type result struct {
		d    time.Duration
		path []TaskBudget
	}
	memo := map[string]result{}
	visiting := map[string]bool{}
	var visit func(name string) (result, error)
	visit = func(name string) (result, error) {
		if r, ok := memo[name]; ok {
			return r, nil
		}
		if visiting[name] {
			return result{}, fmt.Errorf("state %q is on a loop", name)
		}
		st, ok := m.States[name]
		if !ok {
			return result{}, fmt.Errorf("state %q does not exist", name)
		}
		visiting[name] = true
		defer delete(visiting, name)
		own, err := ownBudget(name, st)
		if err != nil {
			return result{}, err
		}
		var best result
		for _, n := range successors(st) {
			if n == "" {
				continue
			}
			r, err := visit(n)
			if err != nil {
				return result{}, err
			}
			if r.d > best.d || best.path == nil {
				best = r
			}
		}
		r := result{d: best.d, path: best.path}
		if own != nil {
			r = result{d: own.Worst + best.d, path: append([]TaskBudget{*own}, best.path...)}
		}
		memo[name] = r
		return r, nil
	}
	r, err := visit(m.StartAt)
	return r.d, r.path, err
}

// ownBudget is a state's own worst case: a Task's budget, nil for the
// states that take no time.
func ownBudget(name string, st rawState) (*TaskBudget, error) {
	switch st.Type {
	case "Task":
		tb, err := taskBudget(name, st)
		if err != nil {
			return nil, err
		}
		return &tb, nil
	case "Pass", "Choice", "Succeed", "Fail":
		return nil, nil
	default:
		return nil, fmt.Errorf("state %q: a %s state inside a child is not bounded by this check", name, st.Type)
	}
}

// successors are the states a state can go to: Next, Default, each
// Choice's and each Catcher's Next ("" where absent).
func successors(st rawState) []string {
	nexts := []string{st.Next, st.Default}
	for _, c := range st.Choices {
		nexts = append(nexts, c.Next)
	}
	for _, c := range st.Catch {
		nexts = append(nexts, c.Next)
	}
	return nexts
}

// taskBudget applies the ASL defaults (IntervalSeconds 1, MaxAttempts 3,
// BackoffRate 2) to each Retrier. A Task's retriers count separately, so
// the most attempts is 1 + the sum of their MaxAttempts.
func taskBudget(name string, st rawState) (TaskBudget, error) {
	if st.TimeoutSeconds == nil {
		return TaskBudget{}, fmt.Errorf("task %q has no TimeoutSeconds (Step Functions would wait for it without limit)", name)
	}
	tb := TaskBudget{State: name, Resource: st.Resource, Timeout: time.Duration(*st.TimeoutSeconds) * time.Second, Attempts: 1}
	for _, rt := range st.Retry {
		interval, attempts, rate := 1.0, 3, 2.0
		if rt.IntervalSeconds != nil {
			interval = *rt.IntervalSeconds
		}
		if rt.MaxAttempts != nil {
			attempts = *rt.MaxAttempts
		}
		if rt.BackoffRate != nil {
			rate = *rt.BackoffRate
		}
		for i := range attempts {
			d := interval * math.Pow(rate, float64(i))
			if rt.MaxDelaySeconds != nil && d > *rt.MaxDelaySeconds {
				d = *rt.MaxDelaySeconds
			}
			tb.Backoff += time.Duration(d * float64(time.Second))
		}
		tb.Attempts += attempts
	}
	tb.Worst = time.Duration(tb.Attempts)*tb.Timeout + tb.Backoff
	return tb, nil
}

// TaskTimeouts maps each Task Resource (as written in the definition, e.g.
// "${SendWelcomeFunctionArn}") to its TimeoutSeconds: the one source the
// stack derives each Lambda function's timeout from. A Resource used by
// Tasks with different timeouts, or a Task without one, is an error.
func TaskTimeouts(definition []byte) (map[string]int, error) {
	out := map[string]int{}
	err := eachState(definition, func(name string, st rawState) error {
		if st.Type != "Task" {
			return nil
		}
		if st.TimeoutSeconds == nil {
			return fmt.Errorf("stepfn: task %q has no TimeoutSeconds", name)
		}
		if prev, ok := out[st.Resource]; ok && prev != *st.TimeoutSeconds {
			return fmt.Errorf("stepfn: %s is called with TimeoutSeconds %d and %d", st.Resource, prev, *st.TimeoutSeconds)
		}
		out[st.Resource] = *st.TimeoutSeconds
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
