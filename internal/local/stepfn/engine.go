// Package stepfn runs bulkprov's Amazon States Language definition locally:
// the same file CDK deploys, with Task resources resolved through the same
// substitutions to in-process Go handlers, Distributed Map reading its items
// from S3 through the real aws-sdk-go-v2 client, and an HTTP endpoint that
// speaks enough of the Step Functions API for the real sfn.Client.
//
// It interprets the JSONPath subset the definition uses and refuses, at
// Load, anything outside it, naming the state and field.
package stepfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Handler is an in-process Task resource, shaped like a Lambda function:
// JSON in, JSON out.
type Handler func(ctx context.Context, input json.RawMessage) (json.RawMessage, error)

// Typed adapts a typed function to a Handler, decoding the input and
// encoding the output like the Go Lambda runtime does.
func Typed[In, Out any](f func(context.Context, In) (Out, error)) Handler {
	return func(ctx context.Context, input json.RawMessage) (json.RawMessage, error) {
		var in In
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, err // unwrapped: its type name is the error name, as in Lambda
		}
		out, err := f(ctx, in)
		if err != nil {
			return nil, err
		}
		return json.Marshal(out)
	}
}

// Options configure an Engine.
type Options struct {
	// Substitutions replace ${Key} in the definition, as CloudFormation's
	// DefinitionSubstitutions do (keys without ${}).
	Substitutions map[string]string
	// Tasks maps a Task's Resource (after substitution) to its handler.
	Tasks map[string]Handler
	// S3 reads Distributed Map items; required when the definition has an ItemReader.
	S3 ObjectReader
	// Logger receives state transitions at debug level; nil: discard.
	Logger *slog.Logger
	// Now is the clock for context-object and execution timestamps; nil: time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil: a timer honouring ctx. Tests pass a
	// fast one and record the delays.
	Sleep func(ctx context.Context, d time.Duration) error
	// OnEvent receives progress events. Calls are serialized by the engine.
	OnEvent func(Event)
	// StateMachineARN names the machine in ARNs and the context object;
	// default arn:aws:states:us-east-1:000000000000:stateMachine:bulkprov.
	StateMachineARN string
	// TimeScale multiplies every duration the engine takes from the
	// definition or from a service limit (TimeoutSeconds, retry delays, the
	// EXPRESS child's 5 minutes), so a test can run AWS's timing in
	// milliseconds: 0.01 makes 300 s last 3 s. 0 means 1.
	TimeScale float64
	// RealTimeStates are Task states TimeScale leaves alone (TimeoutSeconds
	// and retry delays): their work runs at the speed of the local stack,
	// which a faster clock cannot speed up.
	RealTimeStates []string
	// AllowLongExpressChildren loads a definition whose EXPRESS children
	// could outlive ExpressMaxDuration (see ChildBudgets), which Load
	// otherwise refuses: for tests that show what AWS would do with it.
	AllowLongExpressChildren bool
}

// Service limits of Step Functions that shape behaviour, enforced locally.
const (
	// ExpressMaxDuration is the longest an EXPRESS execution (a Distributed
	// Map's EXPRESS child) runs; AWS stops it with States.Timeout.
	ExpressMaxDuration = 5 * time.Minute
	// MaxDistributedConcurrency is the most child executions a Distributed
	// Map runs at once (MaxConcurrency 0 or above means this).
	MaxDistributedConcurrency = 10_000
	// MaxInlineConcurrency is how many iterations an inline Map runs at
	// once, whatever MaxConcurrency says.
	MaxInlineConcurrency = 40
)

// DefaultStateMachineARN is the local machine's ARN.
const DefaultStateMachineARN = "arn:aws:states:us-east-1:000000000000:stateMachine:bulkprov"

// Engine runs executions of one state machine definition.
type Engine struct {
	top     *machine
	opts    Options
	log     *slog.Logger
	eventMu sync.Mutex

	mu     sync.Mutex
	execs  map[string]*Execution
	order  []string
	closed bool
	wg     sync.WaitGroup
	cancel context.CancelFunc
	base   context.Context
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_:.-]+)\}`)

// Load compiles an ASL definition. Every ${Key} must have a substitution,
// every Task resource a handler, and every field must be one the engine
// runs exactly; otherwise Load fails naming the state and field.
func Load(definition []byte, opts Options) (*Engine, error) {
	text := placeholder.ReplaceAllStringFunc(string(definition), func(m string) string {
		key := m[2 : len(m)-1]
		v, ok := opts.Substitutions[key]
		if !ok {
			return m
		}
		enc, _ := json.Marshal(v) // the placeholders sit inside JSON strings
		return string(enc[1 : len(enc)-1])
	})
	if left := placeholder.FindAllString(text, -1); len(left) > 0 {
		return nil, fmt.Errorf("stepfn: no substitution for %s", strings.Join(uniq(left), ", "))
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("stepfn: definition is not a JSON object: %w", err)
	}
	c := &compiler{tasks: opts.Tasks}
	top, err := c.machine(doc, "")
	if err != nil {
		return nil, fmt.Errorf("stepfn: %w", err)
	}
	if !opts.AllowLongExpressChildren {
		budgets, err := ChildBudgets([]byte(text))
		if err != nil {
			return nil, err
		}
		for _, b := range budgets {
			if !b.Fits() {
				return nil, fmt.Errorf("stepfn: state %q: an EXPRESS child can run %s (its Tasks' TimeoutSeconds x attempts + back-off), longer than the %s AWS allows",
					b.Map, b.Worst, ExpressMaxDuration)
			}
		}
	}
	if c.needsS3 && opts.S3 == nil {
		return nil, fmt.Errorf("stepfn: the definition reads items from S3: Options.S3 is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	if opts.StateMachineARN == "" {
		opts.StateMachineARN = DefaultStateMachineARN
	}
	if opts.TimeScale < 0 {
		return nil, fmt.Errorf("stepfn: TimeScale must not be negative")
	}
	if opts.TimeScale == 0 {
		opts.TimeScale = 1
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	return &Engine{top: top, opts: opts, log: log, execs: map[string]*Execution{}, base: base, cancel: cancel}, nil
}

func uniq(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StateMachineARN is the ARN executions of this engine belong to.
func (e *Engine) StateMachineARN() string { return e.opts.StateMachineARN }

// ExecutionARN is the ARN of the execution with the given name.
func (e *Engine) ExecutionARN(name string) string {
	return strings.Replace(e.opts.StateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusAborted   = "ABORTED"
)

// Execution is one run of the state machine.
type Execution struct {
	name, arn string
	input     json.RawMessage
	start     time.Time
	done      chan struct{}
	cancel    context.CancelFunc

	mu     sync.Mutex
	status string
	output json.RawMessage
	err    *ExecutionError
	stop   time.Time
}

// ExecutionInfo is a snapshot of an execution, as DescribeExecution shows it.
type ExecutionInfo struct {
	Name, ARN string
	Status    string
	Input     json.RawMessage
	Output    json.RawMessage // SUCCEEDED only
	Error     string
	Cause     string
	StartDate time.Time
	StopDate  time.Time // zero while RUNNING
}

// Describe returns the execution's current state.
func (x *Execution) Describe() ExecutionInfo {
	x.mu.Lock()
	defer x.mu.Unlock()
	info := ExecutionInfo{Name: x.name, ARN: x.arn, Status: x.status, Input: x.input, Output: x.output, StartDate: x.start, StopDate: x.stop}
	if x.err != nil {
		info.Error, info.Cause = x.err.Name, x.err.Cause
	}
	return info
}

// Name is the execution's name.
func (x *Execution) Name() string { return x.name }

// Done is closed when the execution has stopped.
func (x *Execution) Done() <-chan struct{} { return x.done }

// Wait blocks until the execution stops (or ctx ends) and returns its
// output, or an *ExecutionError when it FAILED or was ABORTED.
func (x *Execution) Wait(ctx context.Context) (json.RawMessage, error) {
	select {
	case <-x.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err != nil {
		return nil, x.err
	}
	return x.output, nil
}

// Stop aborts a running execution and waits for it to stop.
func (x *Execution) Stop() {
	x.cancel()
	<-x.done
}

var validName = regexp.MustCompile(`^[^\s<>{}\[\]?*"#%\\^|~` + "`" + `$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$`)

// Start begins an execution named name with the given input (JSON; empty
// means {}). Like Step Functions for Standard workflows, starting a running
// execution's name again with the same input returns it; any other reuse of
// a name fails with ExecutionAlreadyExists. The execution runs until it
// stops, ctx is cancelled, or the engine is closed.
func (e *Engine) Start(ctx context.Context, name string, input json.RawMessage) (*Execution, error) {
	if !validName.MatchString(name) {
		return nil, &APIError{Code: "InvalidName", Message: fmt.Sprintf("invalid execution name %q", name)}
	}
	if len(strings.TrimSpace(string(input))) == 0 {
		input = json.RawMessage("{}")
	}
	in, err := decodeJSON(input)
	if err != nil {
		return nil, &APIError{Code: "InvalidExecutionInput", Message: "input is not valid JSON: " + err.Error()}
	}
	canon, _ := encodeJSON(in)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("stepfn: engine is closed")
	}
	if x, ok := e.execs[name]; ok {
		prev, _ := decodeJSON(x.input)
		prevCanon, _ := encodeJSON(prev)
		if x.Describe().Status == StatusRunning && string(prevCanon) == string(canon) {
			return x, nil
		}
		return nil, &APIError{Code: "ExecutionAlreadyExists", Message: fmt.Sprintf("Execution Already Exists: '%s'", e.ExecutionARN(name))}
	}
	runCtx, cancel := context.WithCancel(e.base)
	stopOnCaller := context.AfterFunc(ctx, cancel)
	x := &Execution{name: name, arn: e.ExecutionARN(name), input: append(json.RawMessage(nil), input...), start: e.opts.Now(), done: make(chan struct{}), cancel: cancel, status: StatusRunning}
	e.execs[name] = x
	e.order = append(e.order, name)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer cancel()
		defer stopOnCaller()
		e.run(runCtx, x, in)
	}()
	return x, nil
}

// Run starts an execution and waits for it.
func (e *Engine) Run(ctx context.Context, name string, input json.RawMessage) (json.RawMessage, error) {
	x, err := e.Start(ctx, name, input)
	if err != nil {
		return nil, err
	}
	return x.Wait(ctx)
}

// Execution returns the execution with the given name.
func (e *Engine) Execution(name string) (*Execution, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.execs[name]
	return x, ok
}

// Executions lists all executions, newest first.
func (e *Engine) Executions() []*Execution {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Execution, 0, len(e.order))
	for i := len(e.order) - 1; i >= 0; i-- {
		out = append(out, e.execs[e.order[i]])
	}
	return out
}

// Close aborts running executions and waits for them to stop.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

func (e *Engine) run(ctx context.Context, x *Execution, input any) {
	e.emit(Event{Type: EventExecutionStarted, Execution: x.name})
	r := &runner{e: e, exec: x}
	out, err := r.runMachine(ctx, e.top, input, nil)
	var enc json.RawMessage
	if err == nil {
		enc, err = encodeJSON(out)
	}
	x.mu.Lock()
	x.stop = e.opts.Now()
	switch {
	case err == nil:
		x.status, x.output = StatusSucceeded, enc
	case ctx.Err() != nil:
		x.status, x.err = StatusAborted, &ExecutionError{Name: "States.Aborted", Cause: "the execution was stopped"}
	default:
		x.status = StatusFailed
		var se *StateError
		if errors.As(err, &se) {
			x.err = &ExecutionError{Name: se.Name, Cause: se.Cause}
		} else {
			x.err = &ExecutionError{Name: ErrRuntime, Cause: err.Error()}
		}
	}
	ev := Event{Type: EventExecutionSucceeded, Execution: x.name, Output: enc}
	if x.err != nil {
		ev = Event{Type: EventExecutionFailed, Execution: x.name, Error: x.err.Name, Cause: x.err.Cause}
	}
	x.mu.Unlock()
	close(x.done)
	e.log.Debug("execution stopped", "execution", x.name, "status", x.Describe().Status)
	e.emit(ev)
}

func (e *Engine) emit(ev Event) {
	if e.opts.OnEvent == nil {
		return
	}
	e.eventMu.Lock()
	defer e.eventMu.Unlock()
	e.opts.OnEvent(ev)
}

// scaled is d on the engine's clock (Options.TimeScale).
func (e *Engine) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * e.opts.TimeScale)
}

// scaledFor is d on the clock of the named state.
func (e *Engine) scaledFor(state string, d time.Duration) time.Duration {
	if slices.Contains(e.opts.RealTimeStates, state) {
		return d
	}
	return e.scaled(d)
}

// jitter draws a full-jitter delay in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}
