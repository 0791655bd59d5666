package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// runner runs states for one execution.
type runner struct {
	e    *Engine
	exec *Execution
}

// mapItem is the $$.Map.Item context of an ItemSelector evaluation.
type mapItem struct {
	index int
	value any
}

// stateCtx is what a state needs to build its context object.
type stateCtx struct {
	r       *runner
	name    string
	entered time.Time
	retries int
	item    *mapItem
}

func (c *stateCtx) object() any {
	x := c.r.exec
	obj := map[string]any{
		"Execution": map[string]any{
			"Id":        x.arn,
			"Name":      x.name,
			"Input":     mustDecode(x.input),
			"StartTime": x.start.UTC().Format(time.RFC3339Nano),
			"RoleArn":   "arn:aws:iam::000000000000:role/bulkprov-local",
		},
		"StateMachine": map[string]any{"Id": c.r.e.opts.StateMachineARN, "Name": "bulkprov"},
		"State": map[string]any{
			"Name":        c.name,
			"EnteredTime": c.entered.UTC().Format(time.RFC3339Nano),
			"RetryCount":  json.Number(fmt.Sprint(c.retries)),
		},
	}
	if c.item != nil {
		obj["Map"] = map[string]any{"Item": map[string]any{"Index": json.Number(fmt.Sprint(c.item.index)), "Value": c.item.value}}
	}
	return obj
}

func mustDecode(raw json.RawMessage) any {
	v, _ := decodeJSON(raw)
	return v
}

func (c *stateCtx) scope(input any) scope {
	var cached any
	return scope{input: input, ctx: func() any {
		if cached == nil {
			cached = c.object()
		}
		return cached
	}}
}

// runMachine runs states from StartAt until a terminal state.
func (r *runner) runMachine(ctx context.Context, m *machine, input any, item *mapItem) (any, error) {
	name := m.startAt
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st := m.states[name]
		out, next, err := r.runState(ctx, st, input)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		name, input = next, out
	}
}

// runState runs one state with its Retry and Catch and returns its output
// and the next state's name ("" when the machine ends).
func (r *runner) runState(ctx context.Context, st *state, raw any) (any, string, error) {
	sc := &stateCtx{r: r, name: st.name, entered: r.e.opts.Now()}
	r.e.log.Debug("state entered", "execution", r.exec.name, "state", st.name)
	switch st.typ {
	case "Succeed":
		out, err := applyOutputPath(st, raw, sc)
		return out, "", err
	case "Fail":
		return nil, "", &StateError{Name: st.errName, Cause: st.cause}
	case "Choice":
		return r.runChoice(st, raw, sc)
	}
	attempts := make([]int, len(st.retry))
	for {
		out, err := r.attempt(ctx, st, raw, sc)
		if err == nil {
			return out, st.next, nil
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		var se *StateError
		if !errors.As(err, &se) {
			se = &StateError{Name: ErrRuntime, Cause: err.Error()}
		}
		if se.Name == ErrRuntime || se.Name == ErrDataLimitExceeded {
			return nil, "", se // terminal: neither retried nor caught
		}
		if delay, ok := st.retryDelay(se, attempts); ok {
			sc.retries++
			r.e.emit(Event{Type: EventTaskRetrying, Execution: r.exec.name, State: st.name, Attempt: sc.retries, Error: se.Name, Cause: se.Cause})
			r.e.log.Debug("retrying", "execution", r.exec.name, "state", st.name, "error", se.Name, "delay", delay)
			if err := r.e.opts.Sleep(ctx, r.e.scaledFor(st.name, delay)); err != nil {
				return nil, "", err
			}
			continue
		}
		if st.typ == "Task" {
			r.e.emit(Event{Type: EventTaskFailed, Execution: r.exec.name, State: st.name, Attempt: sc.retries + 1, Error: se.Name, Cause: se.Cause})
		}
		return applyCatch(st, raw, se)
	}
}

// applyCatch hands se to the first Catcher that matches it: the output is
// the state's input with the error at the Catcher's ResultPath, and the
// next state the Catcher's Next. With no match, the state fails with se.
func applyCatch(st *state, raw any, se *StateError) (any, string, error) {
	for _, ca := range st.catch {
		if !matchesAny(se, ca.errorEquals) {
			continue
		}
		caught := map[string]any{"Error": se.Name, "Cause": se.Cause}
		switch {
		case ca.resultNull:
			return raw, ca.next, nil
		case ca.resultPath == nil:
			return caught, ca.next, nil
		}
		out, perr := ca.resultPath.set(raw, caught)
		if perr != nil {
			return nil, "", &StateError{Name: ErrRuntime, Cause: st.name + ": Catch: " + perr.Error()}
		}
		return out, ca.next, nil
	}
	return nil, "", se
}

func matchesAny(se *StateError, names []string) bool {
	for _, n := range names {
		if se.matches(n) {
			return true
		}
	}
	return false
}

// retryDelay picks the first Retrier matching the error; if its attempts
// are not used up it counts one and returns the delay before the retry.
func (st *state) retryDelay(se *StateError, attempts []int) (time.Duration, bool) {
	for i, rt := range st.retry {
		if !matchesAny(se, rt.errorEquals) {
			continue
		}
		if attempts[i] >= rt.maxAttempts {
			return 0, false
		}
		d := float64(rt.interval) * math.Pow(rt.backoffRate, float64(attempts[i]))
		attempts[i]++
		if rt.maxDelay > 0 && d > float64(rt.maxDelay) {
			d = float64(rt.maxDelay)
		}
		delay := time.Duration(d)
		if rt.fullJitter {
			delay = jitter(delay)
		}
		return delay, true
	}
	return 0, false
}

// attempt runs one attempt of a Pass, Task, Map or Parallel state through
// InputPath, Parameters, the work, ResultSelector, ResultPath, OutputPath.
func (r *runner) attempt(ctx context.Context, st *state, raw any, sc *stateCtx) (any, error) {
	input, err := applyInputPath(st, raw, sc)
	if err != nil {
		return nil, err
	}
	if st.parameters != nil {
		if input, err = st.parameters.eval(sc.scope(input)); err != nil {
			return nil, withState(st, "Parameters", err)
		}
	}
	var result any
	switch st.typ {
	case "Pass":
		result = input
		if st.hasResult {
			result = st.result
		}
	case "Task":
		if result, err = r.runTask(ctx, st, input); err != nil {
			return nil, err
		}
	case "Map":
		if result, err = r.runMap(ctx, st, input, sc); err != nil {
			return nil, err
		}
	case "Parallel":
		if result, err = r.runParallel(ctx, st, input); err != nil {
			return nil, err
		}
	}
	if st.resultSelect != nil {
		if result, err = st.resultSelect.eval(sc.scope(result)); err != nil {
			return nil, withState(st, "ResultSelector", err)
		}
	}
	out := raw
	switch {
	case st.resultNull:
	case st.resultPath == nil:
		out = result
	default:
		if out, err = st.resultPath.set(raw, result); err != nil {
			return nil, &StateError{Name: ErrRuntime, Cause: st.name + ": " + err.Error()}
		}
	}
	return applyOutputPath(st, out, sc)
}

func withState(st *state, field string, err error) error {
	var se *StateError
	if errors.As(err, &se) {
		return &StateError{Name: se.Name, Cause: fmt.Sprintf("state %q %s: %s", st.name, field, se.Cause)}
	}
	return err
}

func applyInputPath(st *state, raw any, sc *stateCtx) (any, error) {
	switch {
	case st.inputNull:
		return map[string]any{}, nil
	case st.inputPath == nil:
		return raw, nil
	}
	v, ok := st.inputPath.get(raw, sc.scope(raw).ctx)
	if !ok {
		return nil, stateErrorf(ErrRuntime, "state %q InputPath: the JSONPath %q could not be found in the input", st.name, st.inputPath)
	}
	return v, nil
}

func applyOutputPath(st *state, out any, sc *stateCtx) (any, error) {
	switch {
	case st.outputNull:
		return map[string]any{}, nil
	case st.outputPath == nil:
		return out, nil
	}
	v, ok := st.outputPath.get(out, sc.scope(out).ctx)
	if !ok {
		return nil, stateErrorf(ErrRuntime, "state %q OutputPath: the JSONPath %q could not be found", st.name, st.outputPath)
	}
	return v, nil
}

func (r *runner) runChoice(st *state, raw any, sc *stateCtx) (any, string, error) {
	input, err := applyInputPath(st, raw, sc)
	if err != nil {
		return nil, "", err
	}
	s := sc.scope(input)
	next := st.defaultNext
	for _, ch := range st.choices {
		ok, err := ch.eval(s)
		if err != nil {
			return nil, "", withState(st, "Choices", err)
		}
		if ok {
			next = ch.next
			break
		}
	}
	if next == "" {
		return nil, "", stateErrorf(ErrNoChoiceMatched, "state %q: no Choice Rule matched and there is no Default", st.name)
	}
	out, err := applyOutputPath(st, input, sc)
	return out, next, err
}

// runTask calls the handler like Step Functions calls a Lambda function:
// a deadline from TimeoutSeconds (States.Timeout), a panic reported as the
// runtime's crash (Runtime.ExitError), other errors named per handlerError.
func (r *runner) runTask(ctx context.Context, st *state, input any) (result any, err error) {
	payload, err := encodeJSON(input)
	if err != nil {
		return nil, stateErrorf(ErrRuntime, "state %q: %v", st.name, err)
	}
	callCtx := ctx
	if st.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, r.e.scaledFor(st.name, st.timeout))
		defer cancel()
	}
	out, herr := callHandler(callCtx, st.handler, payload)
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case callCtx.Err() != nil:
		return nil, &StateError{Name: ErrTimeout, Cause: fmt.Sprintf("state %q: the task did not finish within %s", st.name, st.timeout), task: true}
	case herr != nil:
		return nil, herr
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	v, err := decodeJSON(out)
	if err != nil {
		return nil, &StateError{Name: ErrRuntime, Cause: fmt.Sprintf("state %q: the task's output is not JSON: %v", st.name, err)}
	}
	r.e.emit(Event{Type: EventTaskSucceeded, Execution: r.exec.name, State: st.name, Output: out})
	return v, nil
}

func callHandler(ctx context.Context, h Handler, payload json.RawMessage) (out json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			cause, _ := json.Marshal(map[string]string{"errorMessage": fmt.Sprint(p), "errorType": ErrExitError})
			err = &StateError{Name: ErrExitError, Cause: string(cause), task: true}
		}
	}()
	out, err = h(ctx, payload)
	if err != nil {
		var se *StateError
		if errors.As(err, &se) {
			return nil, &StateError{Name: se.Name, Cause: se.Cause, task: true}
		}
		return nil, handlerError(err)
	}
	return out, nil
}

func (r *runner) runParallel(ctx context.Context, st *state, input any) (any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := make([]any, len(st.branches))
	errs := make([]error, len(st.branches))
	var wg sync.WaitGroup
	for i, b := range st.branches {
		wg.Go(func() {
			out[i], errs[i] = r.runMachine(ctx, b, input, nil)
			if errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
