package stepfn

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// scope is what paths and templates are evaluated against: the JSON input
// and a lazily built context object ($$).
type scope struct {
	input any
	ctx   func() any
}

// template is a compiled ASL Payload Template (Parameters, ResultSelector,
// ItemSelector, BatchInput): static JSON with "key.$" fields whose values
// are paths or intrinsic functions.
type template struct {
	kind   tmplKind
	static any
	path   refPath
	fn     *intrinsic
	fields []tmplField // kindObject, sorted by key for a stable output
	elems  []*template // kindArray
}

type tmplKind int

const (
	kindStatic tmplKind = iota
	kindPath
	kindIntrinsic
	kindObject
	kindArray
)

type tmplField struct {
	key string
	val *template
}

func compileTemplate(raw json.RawMessage) (*template, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	return compileValue(v)
}

func compileValue(v any) (*template, error) {
	switch n := v.(type) {
	case map[string]any:
		t := &template{kind: kindObject}
		dynamic := false
		for k, fv := range n {
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				s, isStr := fv.(string)
				if !isStr {
					return nil, fmt.Errorf("field %q: a .$ field needs a string value", k)
				}
				ft, err := compileExpr(s)
				if err != nil {
					return nil, fmt.Errorf("field %q: %w", k, err)
				}
				if _, dup := n[name]; dup {
					return nil, fmt.Errorf("fields %q and %q collide", name, k)
				}
				t.fields = append(t.fields, tmplField{name, ft})
				dynamic = true
				continue
			}
			ft, err := compileValue(fv)
			if err != nil {
				return nil, fmt.Errorf("field %q: %w", k, err)
			}
			dynamic = dynamic || ft.kind != kindStatic
			t.fields = append(t.fields, tmplField{k, ft})
		}
		if !dynamic {
			return &template{kind: kindStatic, static: v}, nil
		}
		sort.Slice(t.fields, func(i, j int) bool { return t.fields[i].key < t.fields[j].key })
		return t, nil
	case []any:
		t := &template{kind: kindArray}
		dynamic := false
		for i, ev := range n {
			et, err := compileValue(ev)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			dynamic = dynamic || et.kind != kindStatic
			t.elems = append(t.elems, et)
		}
		if !dynamic {
			return &template{kind: kindStatic, static: v}, nil
		}
		return t, nil
	default:
		return &template{kind: kindStatic, static: v}, nil
	}
}

// compileExpr compiles the value of a "key.$" field: a path or an
// intrinsic function call.
func compileExpr(s string) (*template, error) {
	if strings.HasPrefix(s, "$") {
		p, err := parsePath(s)
		if err != nil {
			return nil, err
		}
		return &template{kind: kindPath, path: p}, nil
	}
	if strings.HasPrefix(s, "States.") {
		fn, err := parseIntrinsic(s)
		if err != nil {
			return nil, err
		}
		return &template{kind: kindIntrinsic, fn: fn}, nil
	}
	return nil, fmt.Errorf("%q is neither a path nor an intrinsic function", s)
}

// eval builds the template's value. A path that selects nothing is a
// States.Runtime error, as in Step Functions.
func (t *template) eval(sc scope) (any, error) {
	switch t.kind {
	case kindStatic:
		return t.static, nil
	case kindPath:
		v, ok := t.path.get(sc.input, sc.ctx)
		if !ok {
			return nil, stateErrorf(ErrRuntime, "the JSONPath %q could not be found in the input", t.path)
		}
		return v, nil
	case kindIntrinsic:
		return t.fn.call(sc)
	case kindObject:
		out := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			v, err := f.val.eval(sc)
			if err != nil {
				return nil, err
			}
			out[f.key] = v
		}
		return out, nil
	default:
		out := make([]any, len(t.elems))
		for i, e := range t.elems {
			v, err := e.eval(sc)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
}
