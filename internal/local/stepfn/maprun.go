package stepfn

import (
	"context"
	"errors"
	"sync"
	"time"
)

// iteration is one child run: one item, or one batch of items.
type iteration struct {
	index int
	items int
	input any
}

func (r *runner) runMap(ctx context.Context, st *state, input any, sc *stateCtx) (any, error) {
	ms := st.mapSpec
	s := sc.scope(input)
	items, err := r.mapItems(ctx, st, s)
	if err != nil {
		return nil, err
	}
	iters := make([]iteration, 0, len(items))
	for i, it := range items {
		if ms.selector != nil {
			isc := &stateCtx{r: r, name: st.name, entered: sc.entered, item: &mapItem{index: i, value: it}}
			if it, err = ms.selector.eval(isc.scope(input)); err != nil {
				return nil, withState(st, "ItemSelector", err)
			}
		}
		iters = append(iters, iteration{index: i, items: 1, input: it})
	}
	if ms.batch != nil {
		if iters, err = r.batchItems(st, iters, s); err != nil {
			return nil, err
		}
	}
	conc := ms.maxConc
	if ms.maxConcPath != nil {
		if conc, err = positiveAt(ms.maxConcPath, s, st.name, "MaxConcurrencyPath", 0, 1<<20); err != nil {
			return nil, err
		}
	}
	tolPct, tolCount := ms.tolPct, ms.tolCount
	if ms.tolPctPath != nil {
		n, err := positiveAt(ms.tolPctPath, s, st.name, "ToleratedFailurePercentagePath", 0, 100)
		if err != nil {
			return nil, err
		}
		tolPct = float64(n)
	}
	if ms.tolCountPath != nil {
		if tolCount, err = positiveAt(ms.tolCountPath, s, st.name, "ToleratedFailureCountPath", 0, 1<<30); err != nil {
			return nil, err
		}
	}
	hasPct, hasCount := ms.tolPctGiven, ms.tolCountGiven
	exceeded := func(failed, total int) bool {
		if !hasPct && !hasCount {
			return failed > 0
		}
		return hasPct && float64(failed)*100 > tolPct*float64(total) || hasCount && failed > tolCount
	}
	return r.runIterations(ctx, st, iters, len(items), conc, exceeded)
}

func (r *runner) runIterations(ctx context.Context, st *state, iters []iteration, total, conc int, exceeded func(failed, total int) bool) (any, error) {
	r.e.emit(Event{Type: EventMapStarted, Execution: r.exec.name, State: st.name, Total: total, Items: len(iters)})
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tally := &mapTally{
		base:     Event{Execution: r.exec.name, State: st.name, Total: total},
		results:  make([]any, len(iters)),
		exceeded: exceeded,
		stop:     cancel,
	}
	runWorkers(ctx, mapConcurrency(st.mapSpec, conc, len(iters)), iters, func(it iteration) {
		out, err := r.runChild(ctx, st, it)
		if ctx.Err() != nil {
			return // stopped: the Map's outcome is already decided
		}
		r.e.emit(tally.record(it, out, err))
	})
	if err := parent.Err(); err != nil {
		return nil, err
	}
	return r.mapOutcome(st, tally)
}

// mapConcurrency bounds MaxConcurrency by Step Functions' own limits (0
// means "as many as allowed") and by the number of iterations.
func mapConcurrency(ms *mapSpec, conc, iterations int) int {
	limit := MaxInlineConcurrency
	if ms.distributed {
		limit = MaxDistributedConcurrency
	}
	if conc <= 0 || conc > limit {
		conc = limit
	}
	return min(conc, iterations)
}

// runWorkers runs do for each iteration on conc goroutines, feeding them
// until ctx ends, and returns when every iteration begun has ended.
func runWorkers(ctx context.Context, conc int, iters []iteration, do func(iteration)) {
	work := make(chan iteration)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for it := range work {
				do(it)
			}
		})
	}
feed:
	for _, it := range iters {
		select {
		case work <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// mapTally collects a Map's iteration outcomes from its workers and stops
// the Map once failures exceed the tolerance.
type mapTally struct {
	base     Event // Execution, State and Total of every iteration event
	exceeded func(failed, total int) bool
	stop     context.CancelFunc

	mu                sync.Mutex
	results           []any // by iteration index; a failed one's is its Error and Cause
	succeeded, failed int   // items, not iterations
	firstErr          *StateError
	tooMany           bool
}

// record stores one iteration's outcome and returns the event reporting it
// with the running counts.
func (t *mapTally) record(it iteration, out any, err error) Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	ev := t.base
	ev.Index, ev.Items = it.index, it.items
	if err == nil {
		t.succeeded += it.items
		t.results[it.index] = out
		ev.Type = EventMapIterationDone
	} else {
		t.failed += it.items
		var se *StateError
		if !errors.As(err, &se) {
			se = &StateError{Name: ErrRuntime, Cause: err.Error()}
		}
		if t.firstErr == nil {
			t.firstErr = se
		}
		t.results[it.index] = map[string]any{"Error": se.Name, "Cause": se.Cause}
		ev.Type, ev.Error, ev.Cause = EventMapIterationFailed, se.Name, se.Cause
		if t.exceeded(t.failed, t.base.Total) {
			t.tooMany = true
			t.stop()
		}
	}
	ev.Succeeded, ev.Failed = t.succeeded, t.failed
	return ev
}

// mapOutcome ends the Map once its workers have stopped: its results, or
// the error of too many failures.
func (r *runner) mapOutcome(st *state, t *mapTally) (any, error) {
	ms := st.mapSpec
	total := t.base.Total
	end := Event{Type: EventMapSucceeded, Execution: r.exec.name, State: st.name, Total: total, Succeeded: t.succeeded, Failed: t.failed}
	if t.tooMany {
		end.Type = EventMapFailed
		r.e.emit(end)
		if !ms.distributed && !ms.tolPctGiven && !ms.tolCountGiven {
			return nil, t.firstErr // an inline Map fails with its iteration's error
		}
		return nil, stateErrorf(ErrExceedToleratedFails, "state %q: %d of %d items failed, more than tolerated; first error: %s: %s", st.name, t.failed, total, t.firstErr.Name, t.firstErr.Cause)
	}
	r.e.emit(end)
	return t.results, nil
}

// runChild runs one iteration. An EXPRESS child that is still running after
// ExpressMaxDuration is stopped and fails with States.Timeout, as on AWS
// (locally its running Task's context ends too; on AWS a Lambda already
// invoked runs on to its own timeout).
func (r *runner) runChild(ctx context.Context, st *state, it iteration) (any, error) {
	ms := st.mapSpec
	if !ms.express {
		return r.runMachine(ctx, ms.processor, it.input, nil)
	}
	// A cancellation, not a deadline: the running Task's handler keeps the
	// deadline of its own timeout, as a Lambda does.
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	overrun := errors.New("EXPRESS maximum duration")
	stop := time.AfterFunc(r.e.scaled(ExpressMaxDuration), func() { cancel(overrun) })
	defer stop.Stop()
	out, err := r.runMachine(cctx, ms.processor, it.input, nil)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), overrun) {
		return nil, stateErrorf(ErrTimeout, "state %q: the EXPRESS child execution of item %d ran longer than %s, the EXPRESS maximum",
			st.name, it.index, ExpressMaxDuration)
	}
	return out, err
}

// batchItems groups iterations per ItemBatcher into {"BatchInput", "Items"}
// inputs, bounded by item count and encoded size.
func (r *runner) batchItems(st *state, iters []iteration, s scope) ([]iteration, error) {
	b := st.mapSpec.batch
	maxItems, maxBytes := b.maxItems, b.maxBytes
	var err error
	if b.maxItemsPath != nil {
		if maxItems, err = positiveAt(b.maxItemsPath, s, st.name, "ItemBatcher.MaxItemsPerBatchPath", 1, 100_000_000); err != nil {
			return nil, err
		}
	}
	if b.maxBytesPath != nil {
		if maxBytes, err = positiveAt(b.maxBytesPath, s, st.name, "ItemBatcher.MaxInputBytesPerBatchPath", 1, maxBatchBytes); err != nil {
			return nil, err
		}
	}
	if maxBytes == 0 {
		maxBytes = maxBatchBytes
	}
	var batchInput any
	if b.input != nil {
		if batchInput, err = b.input.eval(s); err != nil {
			return nil, withState(st, "ItemBatcher.BatchInput", err)
		}
	}
	base := len(`{"Items":[]}`)
	if batchInput != nil {
		enc, _ := encodeJSON(batchInput)
		base += len(`"BatchInput":,`) + len(enc)
	}
	var out []iteration
	var cur []any
	size := base
	flush := func() {
		if len(cur) == 0 {
			return
		}
		in := map[string]any{"Items": cur}
		if batchInput != nil {
			in["BatchInput"] = batchInput
		}
		out = append(out, iteration{index: len(out), items: len(cur), input: in})
		cur, size = nil, base
	}
	for _, it := range iters {
		enc, _ := encodeJSON(it.input)
		if base+len(enc)+1 > maxBytes {
			return nil, stateErrorf(ErrRuntime, "state %q ItemBatcher: item %d alone is larger than %d bytes", st.name, it.index, maxBytes)
		}
		if len(cur) == maxItems || size+len(enc)+1 > maxBytes {
			flush()
		}
		cur = append(cur, it.input)
		size += len(enc) + 1
	}
	flush()
	return out, nil
}
