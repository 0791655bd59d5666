package stepfn

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// choiceRule is a compiled Choice Rule: a boolean expression and, at the
// top level, the state to go to when it is true.
type choiceRule struct {
	next string
	eval condition
}

func compileChoices(st *state, raw map[string]json.RawMessage) error {
	var rules []map[string]json.RawMessage
	if err := json.Unmarshal(raw["Choices"], &rules); err != nil || len(rules) == 0 {
		return fmt.Errorf("Choices must be a non-empty array")
	}
	for i, r := range rules {
		var next string
		if err := json.Unmarshal(r["Next"], &next); err != nil || next == "" {
			return fmt.Errorf("Choices[%d]: Next is required", i)
		}
		eval, err := compileCondition(r, true)
		if err != nil {
			return fmt.Errorf("Choices[%d]: %w", i, err)
		}
		st.choices = append(st.choices, choiceRule{next: next, eval: eval})
	}
	if v, ok := raw["Default"]; ok {
		if err := json.Unmarshal(v, &st.defaultNext); err != nil {
			return fmt.Errorf("Default: %w", err)
		}
	}
	return nil
}

type compareKind int

const (
	cmpString compareKind = iota
	cmpNumeric
	cmpBoolean
	cmpTimestamp
)

// comparisonOf splits an operator name such as NumericLessThanEqualsPath.
func comparisonOf(name string) (kind compareKind, op string, isPath, ok bool) {
	base, isPath := strings.CutSuffix(name, "Path")
	for prefix, k := range map[string]compareKind{"String": cmpString, "Numeric": cmpNumeric, "Boolean": cmpBoolean, "Timestamp": cmpTimestamp} {
		rest, found := strings.CutPrefix(base, prefix)
		if !found {
			continue
		}
		if _, known := relations[rest]; known {
			if k == cmpBoolean && rest != "Equals" {
				return 0, "", false, false
			}
			return k, rest, isPath, true
		}
		if rest == "Matches" && k == cmpString && !isPath {
			return k, rest, false, true
		}
	}
	return 0, "", false, false
}

// condition is a compiled Boolean expression of a Choice Rule.
type condition func(sc scope) (bool, error)

// compileCondition compiles one Choice Rule: a Boolean combinator (And, Or,
// Not), a type test (IsPresent, IsString, ...) or a comparison
// (StringEquals, NumericLessThanPath, ...). top allows Next.
func compileCondition(r map[string]json.RawMessage, top bool) (condition, error) {
	op, err := conditionOperator(r, top)
	if err != nil {
		return nil, err
	}
	switch op {
	case "And", "Or":
		return compileJunction(op, r[op])
	case "Not":
		return compileNot(r[op])
	}
	var varText string
	if err := json.Unmarshal(r["Variable"], &varText); err != nil || varText == "" {
		return nil, fmt.Errorf("%s needs a Variable", op)
	}
	variable, err := parsePath(varText)
	if err != nil {
		return nil, fmt.Errorf("Variable: %w", err)
	}
	if test, ok := typeTests[op]; ok {
		return compileTypeTest(op, r[op], variable, test)
	}
	return compileComparison(op, r[op], varText, variable)
}

// conditionOperator finds the rule's one operator field.
func conditionOperator(r map[string]json.RawMessage, top bool) (string, error) {
	var op string
	for k := range r {
		switch k {
		case "Next":
			if !top {
				return "", fmt.Errorf("Next is only allowed in a top-level Choice Rule")
			}
		case "Variable", "Comment":
		default:
			if op != "" {
				return "", fmt.Errorf("more than one operator (%s, %s)", op, k)
			}
			op = k
		}
	}
	if op == "" {
		return "", fmt.Errorf("no comparison operator")
	}
	return op, nil
}

// compileJunction compiles And (every sub-rule true) and Or (any true),
// both stopping at the first sub-rule that decides.
func compileJunction(op string, raw json.RawMessage) (condition, error) {
	var subs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &subs); err != nil || len(subs) == 0 {
		return nil, fmt.Errorf("%s must be a non-empty array of rules", op)
	}
	evals := make([]condition, len(subs))
	for i, s := range subs {
		e, err := compileCondition(s, false)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", op, i, err)
		}
		evals[i] = e
	}
	isAnd := op == "And"
	return func(sc scope) (bool, error) {
		for _, e := range evals {
			ok, err := e(sc)
			if err != nil {
				return false, err
			}
			if ok != isAnd {
				return !isAnd, nil
			}
		}
		return isAnd, nil
	}, nil
}

func compileNot(raw json.RawMessage) (condition, error) {
	var sub map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sub); err != nil {
		return nil, fmt.Errorf("Not must be a rule object")
	}
	e, err := compileCondition(sub, false)
	if err != nil {
		return nil, fmt.Errorf("Not: %w", err)
	}
	return func(sc scope) (bool, error) {
		ok, err := e(sc)
		return !ok, err
	}, nil
}

// compileTypeTest compiles IsPresent, IsString, ...: true when the test's
// outcome on the Variable equals the rule's true or false.
func compileTypeTest(op string, raw json.RawMessage, variable refPath, test func(any, bool) bool) (condition, error) {
	var want bool
	if err := json.Unmarshal(raw, &want); err != nil {
		return nil, fmt.Errorf("%s must be true or false", op)
	}
	return func(sc scope) (bool, error) {
		v, found := variable.get(sc.input, sc.ctx)
		return test(v, found) == want, nil
	}, nil
}

// relations maps a comparison's name (after its type prefix) to the
// outcome of compare that makes it true.
var relations = map[string]func(c int) bool{
	"Equals":            func(c int) bool { return c == 0 },
	"LessThan":          func(c int) bool { return c < 0 },
	"GreaterThan":       func(c int) bool { return c > 0 },
	"LessThanEquals":    func(c int) bool { return c <= 0 },
	"GreaterThanEquals": func(c int) bool { return c >= 0 },
}

// compileComparison compiles a typed comparison of the Variable with a
// literal or, for the ...Path operators, with the value another path selects.
func compileComparison(op string, raw json.RawMessage, varText string, variable refPath) (condition, error) {
	kind, rel, isPath, ok := comparisonOf(op)
	if !ok {
		return nil, fmt.Errorf("operator %q is not supported", op)
	}
	var operand func(scope) (any, error)
	var pattern *regexp.Regexp
	if isPath {
		var err error
		if operand, err = pathOperand(op, raw); err != nil {
			return nil, err
		}
	} else {
		lit, err := decodeJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if typeOK(kind, lit) != nil {
			return nil, fmt.Errorf("%s needs a %s value", op, kindName(kind))
		}
		if rel == "Matches" {
			pattern = wildcard(lit.(string))
		}
		operand = func(scope) (any, error) { return lit, nil }
	}
	holds := relations[rel]
	return func(sc scope) (bool, error) {
		v, found := variable.get(sc.input, sc.ctx)
		if !found {
			return false, stateErrorf(ErrRuntime, "Choice: Variable %q selects nothing in the input", varText)
		}
		want, err := operand(sc)
		if err != nil {
			return false, err
		}
		if pattern != nil {
			s, ok := v.(string)
			return ok && pattern.MatchString(s), nil
		}
		c, comparable := compare(kind, v, want)
		if !comparable {
			return false, nil // a type mismatch makes the comparison false
		}
		return holds(c), nil
	}, nil
}

// pathOperand compiles a ...Path operator's operand: the value its path
// selects, a runtime error when it selects nothing.
func pathOperand(op string, raw json.RawMessage) (func(scope) (any, error), error) {
	var ps string
	if err := json.Unmarshal(raw, &ps); err != nil {
		return nil, fmt.Errorf("%s must be a path string", op)
	}
	p, err := parsePath(ps)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return func(sc scope) (any, error) {
		v, ok := p.get(sc.input, sc.ctx)
		if !ok {
			return nil, stateErrorf(ErrRuntime, "Choice: %s %q selects nothing", op, ps)
		}
		return v, nil
	}, nil
}

var typeTests = map[string]func(v any, found bool) bool{
	"IsPresent": func(_ any, found bool) bool { return found },
	"IsNull":    func(v any, found bool) bool { return found && v == nil },
	"IsString":  func(v any, found bool) bool { _, ok := v.(string); return found && ok },
	"IsNumeric": func(v any, found bool) bool { _, ok := v.(json.Number); return found && ok },
	"IsBoolean": func(v any, found bool) bool { _, ok := v.(bool); return found && ok },
	"IsTimestamp": func(v any, found bool) bool {
		s, ok := v.(string)
		return found && ok && parseTimestamp(s) != nil
	},
}

func parseTimestamp(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil
	}
	return &t
}

func kindName(k compareKind) string {
	return [...]string{"string", "number", "boolean", "timestamp"}[k]
}

func typeOK(k compareKind, v any) error {
	ok := false
	switch k {
	case cmpString:
		_, ok = v.(string)
	case cmpNumeric:
		_, ok = v.(json.Number)
	case cmpBoolean:
		_, ok = v.(bool)
	case cmpTimestamp:
		s, isStr := v.(string)
		ok = isStr && parseTimestamp(s) != nil
	}
	if !ok {
		return fmt.Errorf("not a %s", kindName(k))
	}
	return nil
}

// compare orders a and b of the given kind; false when either has another type.
func compare(k compareKind, a, b any) (int, bool) {
	if typeOK(k, a) != nil || typeOK(k, b) != nil {
		return 0, false
	}
	switch k {
	case cmpString:
		return strings.Compare(a.(string), b.(string)), true
	case cmpNumeric:
		x, _ := asFloat(a)
		y, _ := asFloat(b)
		switch {
		case x < y:
			return -1, true
		case x > y:
			return 1, true
		}
		return 0, true
	case cmpBoolean:
		if a.(bool) == b.(bool) {
			return 0, true
		}
		return 1, true
	default:
		return parseTimestamp(a.(string)).Compare(*parseTimestamp(b.(string))), true
	}
}

// wildcard compiles a StringMatches pattern: * matches any run of
// characters, \* and \\ are literal.
func wildcard(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			i++
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		case p[i] == '*':
			b.WriteString("(?s:.*)")
		default:
			b.WriteString(regexp.QuoteMeta(p[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
