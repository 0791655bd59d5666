package stepfn

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// refPath is an ASL Reference Path: `$` or `$$` followed by `.field`,
// `['field']` or `[n]` steps. ASL restricts the paths a state machine may use
// in InputPath, ResultPath, *Path fields and Choice variables to this form,
// so a small hand-written parser covers the spec without a JSONPath library.
type refPath struct {
	text    string
	context bool // starts with $$: the context object
	steps   []pathStep
}

type pathStep struct {
	field string
	index int // used when isIndex
	isIdx bool
}

func parsePath(s string) (refPath, error) {
	p := refPath{text: s}
	rest := s
	switch {
	case strings.HasPrefix(s, "$$"):
		p.context = true
		rest = s[2:]
	case strings.HasPrefix(s, "$"):
		rest = s[1:]
	default:
		return p, fmt.Errorf("path %q does not start with $", s)
	}
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			name := rest[:end]
			if name == "" || strings.ContainsAny(name, "*@?() '\"") {
				return p, fmt.Errorf("path %q: unsupported field %q (only plain fields, ['field'] and [n] are supported)", s, name)
			}
			p.steps = append(p.steps, pathStep{field: name})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q: missing ]", s)
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			if len(inner) >= 2 && (inner[0] == '\'' && inner[len(inner)-1] == '\'' || inner[0] == '"' && inner[len(inner)-1] == '"') {
				p.steps = append(p.steps, pathStep{field: inner[1 : len(inner)-1]})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return p, fmt.Errorf("path %q: unsupported selector [%s] (only ['field'] and [n] are supported)", s, inner)
			}
			p.steps = append(p.steps, pathStep{index: n, isIdx: true})
		default:
			return p, fmt.Errorf("path %q: unexpected %q", s, rest[:1])
		}
	}
	return p, nil
}

func (p refPath) String() string { return p.text }

// get resolves the path against input (or the context object for $$).
func (p refPath) get(input any, ctx func() any) (any, bool) {
	v := input
	if p.context {
		v = ctx()
	}
	for _, st := range p.steps {
		if st.isIdx {
			arr, ok := v.([]any)
			if !ok || st.index >= len(arr) {
				return nil, false
			}
			v = arr[st.index]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		v, ok = obj[st.field]
		if !ok {
			return nil, false
		}
	}
	return v, true
}

// set returns a copy of input with value placed at the path (ResultPath
// semantics: objects along the way are created, and copied rather than
// mutated so that values shared between branches stay intact).
func (p refPath) set(input, value any) (any, error) {
	if len(p.steps) == 0 {
		return value, nil
	}
	return setSteps(input, p.steps, value, p.text)
}

func setSteps(node any, steps []pathStep, value any, text string) (any, error) {
	st := steps[0]
	if st.isIdx {
		return nil, fmt.Errorf("ResultPath %q: array index steps are not allowed", text)
	}
	var obj map[string]any
	switch n := node.(type) {
	case map[string]any:
		obj = make(map[string]any, len(n)+1)
		for k, v := range n {
			obj[k] = v
		}
	case nil:
		obj = map[string]any{}
	default:
		return nil, fmt.Errorf("ResultPath %q: cannot set field %q on a %s", text, st.field, jsonType(node))
	}
	if len(steps) == 1 {
		obj[st.field] = value
		return obj, nil
	}
	child, err := setSteps(obj[st.field], steps[1:], value, text)
	if err != nil {
		return nil, err
	}
	obj[st.field] = child
	return obj, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64, int:
		return "number"
	case bool:
		return "boolean"
	default:
		return fmt.Sprintf("%T", v)
	}
}
