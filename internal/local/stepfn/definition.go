package stepfn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// machine is a compiled state machine: the top level, a Map's
// ItemProcessor or a Parallel branch.
type machine struct {
	startAt string
	states  map[string]*state
}

// state is one compiled state. Fields a state type does not use stay zero.
type state struct {
	name string
	typ  string
	next string
	end  bool

	inputPath    *refPath // nil: $; a nil path with inputNull: null (input {})
	inputNull    bool
	outputPath   *refPath
	outputNull   bool
	resultPath   *refPath
	resultNull   bool
	parameters   *template
	resultSelect *template
	result       any // Pass
	hasResult    bool
	retry        []retrier
	catch        []catcher
	resource     string // Task, after substitution
	handler      Handler
	timeout      time.Duration
	choices      []choiceRule // Choice
	defaultNext  string
	errName      string // Fail
	cause        string
	mapSpec      *mapSpec
	branches     []*machine // Parallel
}

type retrier struct {
	errorEquals []string
	interval    time.Duration
	maxAttempts int
	backoffRate float64
	maxDelay    time.Duration
	fullJitter  bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  *refPath
	resultNull  bool
}

// common fields every state type may carry.
var commonFields = []string{"Type", "Comment"}

var allowedFields = map[string][]string{
	"Pass":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "Result"},
	"Task":     {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Resource", "TimeoutSeconds"},
	"Choice":   {"InputPath", "OutputPath", "Choices", "Default"},
	"Succeed":  {"InputPath", "OutputPath"},
	"Fail":     {"Error", "Cause"},
	"Map":      {"Next", "End", "InputPath", "OutputPath", "ResultPath", "ItemsPath", "ItemReader", "ItemSelector", "Parameters", "ItemBatcher", "ItemProcessor", "Iterator", "MaxConcurrency", "MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount", "ToleratedFailureCountPath", "ResultSelector", "Retry", "Catch", "Label"},
	"Parallel": {"Next", "End", "InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Retry", "Catch", "Branches"},
}

// compiler turns the decoded document into machines, failing on anything
// the engine cannot run exactly.
type compiler struct {
	tasks   map[string]Handler
	needsS3 bool
}

func (c *compiler) machine(raw map[string]json.RawMessage, where string) (*machine, error) {
	for k := range raw {
		switch k {
		case "StartAt", "States", "Comment", "Version", "ProcessorConfig":
		case "QueryLanguage":
			var ql string
			_ = json.Unmarshal(raw[k], &ql)
			if ql != "JSONPath" {
				return nil, fmt.Errorf("%sQueryLanguage %q is not supported (only JSONPath)", where, ql)
			}
		default:
			return nil, fmt.Errorf("%sfield %q is not supported", where, k)
		}
	}
	m := &machine{states: map[string]*state{}}
	if err := json.Unmarshal(raw["StartAt"], &m.startAt); err != nil || m.startAt == "" {
		return nil, fmt.Errorf("%sStartAt is missing", where)
	}
	var states map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw["States"], &states); err != nil || len(states) == 0 {
		return nil, fmt.Errorf("%sStates is missing or not an object of states", where)
	}
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st, err := c.state(name, states[name])
		if err != nil {
			return nil, fmt.Errorf("%sstate %q: %w", where, name, err)
		}
		m.states[name] = st
	}
	if m.states[m.startAt] == nil {
		return nil, fmt.Errorf("%sStartAt %q names no state", where, m.startAt)
	}
	for _, name := range names {
		st := m.states[name]
		targets := []string{st.next, st.defaultNext}
		for _, ch := range st.choices {
			targets = append(targets, ch.next)
		}
		for _, ca := range st.catch {
			targets = append(targets, ca.next)
		}
		for _, t := range targets {
			if t != "" && m.states[t] == nil {
				return nil, fmt.Errorf("%sstate %q: transition to unknown state %q", where, name, t)
			}
		}
	}
	return m, nil
}

func (c *compiler) state(name string, raw map[string]json.RawMessage) (*state, error) {
	st := &state{name: name}
	if err := checkStateFields(st, raw); err != nil {
		return nil, err
	}
	if err := compileTransition(st, raw); err != nil {
		return nil, err
	}
	if err := compileDataFlow(st, raw); err != nil {
		return nil, err
	}
	var err error
	if st.retry, err = compileRetry(raw["Retry"]); err != nil {
		return nil, err
	}
	if st.catch, err = compileCatch(raw["Catch"]); err != nil {
		return nil, err
	}
	if err := c.compileTypeFields(st, raw); err != nil {
		return nil, err
	}
	return st, nil
}

// compileTypeFields compiles the fields only one state type has.
func (c *compiler) compileTypeFields(st *state, raw map[string]json.RawMessage) error {
	var err error
	switch st.typ {
	case "Pass":
		err = compilePass(st, raw)
	case "Task":
		err = c.compileTask(st, raw)
	case "Choice":
		err = compileChoices(st, raw)
	case "Fail":
		err = compileFail(st, raw)
	case "Map":
		st.mapSpec, err = c.compileMap(st.name, raw)
	case "Parallel":
		err = c.compileParallel(st, raw)
	}
	return err
}

// checkStateFields reads the state's Type and refuses any field that type
// does not have (or the engine does not run).
func checkStateFields(st *state, raw map[string]json.RawMessage) error {
	if err := json.Unmarshal(raw["Type"], &st.typ); err != nil {
		return fmt.Errorf("Type is missing")
	}
	allowed, ok := allowedFields[st.typ]
	if !ok {
		return fmt.Errorf("Type %q is not supported by the local engine", st.typ)
	}
	for k := range raw {
		if !contains(commonFields, k) && !contains(allowed, k) {
			return fmt.Errorf("field %q is not supported on a %s state by the local engine", k, st.typ)
		}
	}
	return nil
}

// compileTransition reads Next and End; the states that move on need
// exactly one of them.
func compileTransition(st *state, raw map[string]json.RawMessage) error {
	if err := optString(raw, "Next", &st.next); err != nil {
		return err
	}
	if v, ok := raw["End"]; ok {
		if err := json.Unmarshal(v, &st.end); err != nil {
			return fmt.Errorf("End: %w", err)
		}
	}
	switch st.typ {
	case "Pass", "Task", "Map", "Parallel":
		if (st.next == "") == !st.end {
			return fmt.Errorf("exactly one of Next and End is required")
		}
	}
	return nil
}

// compileDataFlow compiles the input and output processing fields:
// InputPath, OutputPath, ResultPath, Parameters (a Map's are its
// ItemSelector, see compileMap) and ResultSelector.
func compileDataFlow(st *state, raw map[string]json.RawMessage) error {
	var err error
	if st.inputPath, st.inputNull, err = optPath(raw, "InputPath"); err != nil {
		return err
	}
	if st.outputPath, st.outputNull, err = optPath(raw, "OutputPath"); err != nil {
		return err
	}
	if st.resultPath, st.resultNull, err = optPath(raw, "ResultPath"); err != nil {
		return err
	}
	if st.resultPath != nil && st.resultPath.context {
		return fmt.Errorf("ResultPath must not start with $$")
	}
	if v, ok := raw["Parameters"]; ok && st.typ != "Map" {
		if st.parameters, err = compileTemplate(v); err != nil {
			return fmt.Errorf("Parameters: %w", err)
		}
	}
	if v, ok := raw["ResultSelector"]; ok {
		if st.resultSelect, err = compileTemplate(v); err != nil {
			return fmt.Errorf("ResultSelector: %w", err)
		}
	}
	return nil
}

func compilePass(st *state, raw map[string]json.RawMessage) error {
	v, ok := raw["Result"]
	if !ok {
		return nil
	}
	st.hasResult = true
	var err error
	if st.result, err = decodeJSON(v); err != nil {
		return fmt.Errorf("Result: %w", err)
	}
	return nil
}

// compileTask binds the Task's Resource to its registered handler.
func (c *compiler) compileTask(st *state, raw map[string]json.RawMessage) error {
	if err := optString(raw, "Resource", &st.resource); err != nil {
		return err
	}
	st.handler = c.tasks[st.resource]
	if st.handler == nil {
		return fmt.Errorf("Resource %q: no handler registered in Options.Tasks", st.resource)
	}
	if v, ok := raw["TimeoutSeconds"]; ok {
		var secs int
		if err := json.Unmarshal(v, &secs); err != nil || secs <= 0 {
			return fmt.Errorf("TimeoutSeconds must be a positive integer")
		}
		st.timeout = time.Duration(secs) * time.Second
	}
	return nil
}

func compileFail(st *state, raw map[string]json.RawMessage) error {
	if err := optString(raw, "Error", &st.errName); err != nil {
		return err
	}
	return optString(raw, "Cause", &st.cause)
}

func (c *compiler) compileParallel(st *state, raw map[string]json.RawMessage) error {
	var branches []map[string]json.RawMessage
	if err := json.Unmarshal(raw["Branches"], &branches); err != nil || len(branches) == 0 {
		return fmt.Errorf("Branches must be a non-empty array of state machines")
	}
	for i, b := range branches {
		m, err := c.machine(b, fmt.Sprintf("Branches[%d]: ", i))
		if err != nil {
			return err
		}
		st.branches = append(st.branches, m)
	}
	return nil
}

// optString reads an optional string field into dst; absent leaves dst.
func optString(raw map[string]json.RawMessage, field string, dst *string) error {
	if v, ok := raw[field]; ok {
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

// optPath reads an optional path field: absent → nil, JSON null → null.
func optPath(raw map[string]json.RawMessage, field string) (*refPath, bool, error) {
	v, ok := raw[field]
	if !ok {
		return nil, false, nil
	}
	if string(v) == "null" {
		return nil, true, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, false, fmt.Errorf("%s must be a string or null", field)
	}
	p, err := parsePath(s)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", field, err)
	}
	return &p, false, nil
}

func compileRetry(raw json.RawMessage) ([]retrier, error) {
	if raw == nil {
		return nil, nil
	}
	var in []struct {
		ErrorEquals     []string
		IntervalSeconds *int
		MaxAttempts     *int
		BackoffRate     *float64
		MaxDelaySeconds *int
		JitterStrategy  *string
		Comment         string
	}
	if err := strictUnmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("Retry: %w", err)
	}
	out := make([]retrier, len(in))
	for i, r := range in {
		if err := validateErrorEquals(r.ErrorEquals, i == len(in)-1); err != nil {
			return nil, fmt.Errorf("Retry[%d]: %w", i, err)
		}
		rt := retrier{errorEquals: r.ErrorEquals, interval: time.Second, maxAttempts: 3, backoffRate: 2}
		if r.IntervalSeconds != nil {
			if *r.IntervalSeconds < 1 {
				return nil, fmt.Errorf("Retry[%d]: IntervalSeconds must be a positive integer", i)
			}
			rt.interval = time.Duration(*r.IntervalSeconds) * time.Second
		}
		if r.MaxAttempts != nil {
			if *r.MaxAttempts < 0 {
				return nil, fmt.Errorf("Retry[%d]: MaxAttempts must not be negative", i)
			}
			rt.maxAttempts = *r.MaxAttempts
		}
		if r.BackoffRate != nil {
			if *r.BackoffRate < 1 {
				return nil, fmt.Errorf("Retry[%d]: BackoffRate must be at least 1.0", i)
			}
			rt.backoffRate = *r.BackoffRate
		}
		if r.MaxDelaySeconds != nil {
			if *r.MaxDelaySeconds < 1 {
				return nil, fmt.Errorf("Retry[%d]: MaxDelaySeconds must be a positive integer", i)
			}
			rt.maxDelay = time.Duration(*r.MaxDelaySeconds) * time.Second
		}
		if r.JitterStrategy != nil {
			switch *r.JitterStrategy {
			case "FULL":
				rt.fullJitter = true
			case "NONE":
			default:
				return nil, fmt.Errorf("Retry[%d]: JitterStrategy %q is not FULL or NONE", i, *r.JitterStrategy)
			}
		}
		out[i] = rt
	}
	return out, nil
}

func compileCatch(raw json.RawMessage) ([]catcher, error) {
	if raw == nil {
		return nil, nil
	}
	var in []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("Catch: %w", err)
	}
	out := make([]catcher, len(in))
	for i, c := range in {
		for k := range c {
			if k != "ErrorEquals" && k != "Next" && k != "ResultPath" && k != "Comment" {
				return nil, fmt.Errorf("Catch[%d]: field %q is not supported", i, k)
			}
		}
		var ca catcher
		if err := json.Unmarshal(c["ErrorEquals"], &ca.errorEquals); err != nil {
			return nil, fmt.Errorf("Catch[%d]: ErrorEquals: %w", i, err)
		}
		if err := validateErrorEquals(ca.errorEquals, i == len(in)-1); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		if err := json.Unmarshal(c["Next"], &ca.next); err != nil || ca.next == "" {
			return nil, fmt.Errorf("Catch[%d]: Next is required", i)
		}
		var err error
		if ca.resultPath, ca.resultNull, err = optPath(c, "ResultPath"); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		out[i] = ca
	}
	return out, nil
}

func strictUnmarshal(raw json.RawMessage, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
