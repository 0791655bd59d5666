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
	eval func(sc scope) (bool, error)
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
		switch rest {
		case "Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals":
			if k == cmpBoolean && rest != "Equals" {
				return 0, "", false, false
			}
			return k, rest, isPath, true
		case "Matches":
			if k == cmpString && !isPath {
				return k, rest, false, true
			}
		}
	}
	return 0, "", false, false
}

func compileCondition(r map[string]json.RawMessage, top bool) (func(scope) (bool, error), error) {
	var op string
	for k := range r {
		switch k {
		case "Next":
			if !top {
				return nil, fmt.Errorf("Next is only allowed in a top-level Choice Rule")
			}
		case "Variable", "Comment":
		default:
			if op != "" {
				return nil, fmt.Errorf("more than one operator (%s, %s)", op, k)
			}
			op = k
		}
	}
	switch op {
	case "":
		return nil, fmt.Errorf("no comparison operator")
	case "And", "Or":
		var subs []map[string]json.RawMessage
		if err := json.Unmarshal(r[op], &subs); err != nil || len(subs) == 0 {
			return nil, fmt.Errorf("%s must be a non-empty array of rules", op)
		}
		evals := make([]func(scope) (bool, error), len(subs))
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
	case "Not":
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(r[op], &sub); err != nil {
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
	var varText string
	if err := json.Unmarshal(r["Variable"], &varText); err != nil || varText == "" {
		return nil, fmt.Errorf("%s needs a Variable", op)
	}
	variable, err := parsePath(varText)
	if err != nil {
		return nil, fmt.Errorf("Variable: %w", err)
	}
	if test, ok := typeTests[op]; ok {
		var want bool
		if err := json.Unmarshal(r[op], &want); err != nil {
			return nil, fmt.Errorf("%s must be true or false", op)
		}
		return func(sc scope) (bool, error) {
			v, found := variable.get(sc.input, sc.ctx)
			return test(v, found) == want, nil
		}, nil
	}
	kind, cmp, isPath, ok := comparisonOf(op)
	if !ok {
		return nil, fmt.Errorf("operator %q is not supported", op)
	}
	operand := func(scope) (any, error) { return nil, nil }
	var pattern *regexp.Regexp
	if isPath {
		var ps string
		if err := json.Unmarshal(r[op], &ps); err != nil {
			return nil, fmt.Errorf("%s must be a path string", op)
		}
		p, err := parsePath(ps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		operand = func(sc scope) (any, error) {
			v, ok := p.get(sc.input, sc.ctx)
			if !ok {
				return nil, stateErrorf(ErrRuntime, "Choice: %s %q selects nothing", op, ps)
			}
			return v, nil
		}
	} else {
		lit, err := decodeJSON(r[op])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		if typeOK(kind, lit) != nil {
			return nil, fmt.Errorf("%s needs a %s value", op, kindName(kind))
		}
		if cmp == "Matches" {
			pattern = wildcard(lit.(string))
		}
		operand = func(scope) (any, error) { return lit, nil }
	}
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
		switch cmp {
		case "Equals":
			return c == 0, nil
		case "LessThan":
			return c < 0, nil
		case "GreaterThan":
			return c > 0, nil
		case "LessThanEquals":
			return c <= 0, nil
		default:
			return c >= 0, nil
		}
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
