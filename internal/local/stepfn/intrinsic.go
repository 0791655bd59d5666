package stepfn

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// intrinsic is a parsed intrinsic function call such as
// States.Format('{} rows', $.rows).
type intrinsic struct {
	name string
	args []intrinsicArg
}

type intrinsicArg struct {
	literal any
	path    *refPath
	call    *intrinsic
}

// intrinsicFunc is one supported intrinsic function: how many arguments it
// takes and what it computes from their values.
type intrinsicFunc struct {
	minArgs, maxArgs int // maxArgs -1: any
	eval             func(args []any, fail failFunc) (any, error)
}

// failFunc makes a States.IntrinsicFailure naming the function.
type failFunc func(format string, a ...any) error

var intrinsics = map[string]intrinsicFunc{
	"States.Format":       {1, -1, statesFormat},
	"States.StringToJson": {1, 1, statesStringToJSON},
	"States.JsonToString": {1, 1, statesJSONToString},
	"States.Array":        {0, -1, func(args []any, _ failFunc) (any, error) { return args, nil }},
	"States.MathAdd":      {2, 2, statesMathAdd},
	"States.ArrayLength":  {1, 1, statesArrayLength},
	"States.ArrayGetItem": {2, 2, statesArrayGetItem},
	"States.JsonMerge":    {3, 3, statesJSONMerge},
}

func parseIntrinsic(s string) (*intrinsic, error) {
	p := &intrinsicParser{src: s}
	fn, err := p.call()
	if err != nil {
		return nil, fmt.Errorf("intrinsic %q: %w", s, err)
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("intrinsic %q: unexpected %q", s, p.src[p.pos:])
	}
	return fn, nil
}

type intrinsicParser struct {
	src string
	pos int
}

func (p *intrinsicParser) skipSpace() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *intrinsicParser) call() (*intrinsic, error) {
	open := strings.IndexByte(p.src[p.pos:], '(')
	if open < 0 {
		return nil, fmt.Errorf("missing (")
	}
	name := strings.TrimSpace(p.src[p.pos : p.pos+open])
	impl, ok := intrinsics[name]
	if !ok {
		return nil, fmt.Errorf("unsupported intrinsic function %q", name)
	}
	p.pos += open + 1
	fn := &intrinsic{name: name}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			arg, err := p.arg()
			if err != nil {
				return nil, err
			}
			fn.args = append(fn.args, arg)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, fmt.Errorf("missing )")
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			if p.src[p.pos] != ',' {
				return nil, fmt.Errorf("expected , or ) at %d", p.pos)
			}
			p.pos++
		}
	}
	if len(fn.args) < impl.minArgs || impl.maxArgs >= 0 && len(fn.args) > impl.maxArgs {
		return nil, fmt.Errorf("%s takes %d..%d arguments, got %d", name, impl.minArgs, impl.maxArgs, len(fn.args))
	}
	return fn, nil
}

func (p *intrinsicParser) arg() (intrinsicArg, error) {
	p.skipSpace()
	if p.pos >= len(p.src) {
		return intrinsicArg{}, fmt.Errorf("missing argument")
	}
	rest := p.src[p.pos:]
	switch {
	case rest[0] == '\'':
		var b strings.Builder
		for i := 1; i < len(rest); i++ {
			c := rest[i]
			if c == '\\' && i+1 < len(rest) {
				i++
				b.WriteByte(rest[i])
				continue
			}
			if c == '\'' {
				p.pos += i + 1
				return intrinsicArg{literal: b.String()}, nil
			}
			b.WriteByte(c)
		}
		return intrinsicArg{}, fmt.Errorf("unterminated string")
	case strings.HasPrefix(rest, "States."):
		fn, err := p.call()
		return intrinsicArg{call: fn}, err
	case rest[0] == '$':
		end := strings.IndexAny(rest, ",)")
		if end < 0 {
			end = len(rest)
		}
		path, err := parsePath(strings.TrimSpace(rest[:end]))
		if err != nil {
			return intrinsicArg{}, err
		}
		p.pos += end
		return intrinsicArg{path: &path}, nil
	default:
		end := strings.IndexAny(rest, ",)")
		if end < 0 {
			end = len(rest)
		}
		tok := strings.TrimSpace(rest[:end])
		p.pos += end
		switch tok {
		case "true":
			return intrinsicArg{literal: true}, nil
		case "false":
			return intrinsicArg{literal: false}, nil
		case "null":
			return intrinsicArg{literal: nil}, nil
		}
		if _, err := strconv.ParseFloat(tok, 64); err != nil {
			return intrinsicArg{}, fmt.Errorf("bad argument %q", tok)
		}
		return intrinsicArg{literal: json.Number(tok)}, nil
	}
}

// call evaluates the arguments (paths against the scope, nested calls
// first) and applies the function to them.
func (f *intrinsic) call(sc scope) (any, error) {
	args := make([]any, len(f.args))
	for i, a := range f.args {
		switch {
		case a.path != nil:
			v, ok := a.path.get(sc.input, sc.ctx)
			if !ok {
				return nil, stateErrorf(ErrRuntime, "%s: the JSONPath %q could not be found in the input", f.name, a.path)
			}
			args[i] = v
		case a.call != nil:
			v, err := a.call.call(sc)
			if err != nil {
				return nil, err
			}
			args[i] = v
		default:
			args[i] = a.literal
		}
	}
	fail := func(format string, a ...any) error {
		return stateErrorf(ErrIntrinsicFailure, f.name+": "+format, a...)
	}
	return intrinsics[f.name].eval(args, fail)
}

func statesFormat(args []any, fail failFunc) (any, error) {
	tmpl, ok := args[0].(string)
	if !ok {
		return nil, fail("the template must be a string")
	}
	return formatTemplate(tmpl, args[1:], fail)
}

func statesStringToJSON(args []any, fail failFunc) (any, error) {
	s, ok := args[0].(string)
	if !ok {
		return nil, fail("the argument must be a string")
	}
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, fail("%v", err)
	}
	return v, nil
}

func statesJSONToString(args []any, fail failFunc) (any, error) {
	b, err := encodeJSON(args[0])
	if err != nil {
		return nil, fail("%v", err)
	}
	return string(b), nil
}

func statesMathAdd(args []any, fail failFunc) (any, error) {
	a, ok1 := asFloat(args[0])
	b, ok2 := asFloat(args[1])
	if !ok1 || !ok2 {
		return nil, fail("both arguments must be numbers")
	}
	return number(a + b), nil
}

func statesArrayLength(args []any, fail failFunc) (any, error) {
	arr, ok := args[0].([]any)
	if !ok {
		return nil, fail("the argument must be an array")
	}
	return json.Number(strconv.Itoa(len(arr))), nil
}

func statesArrayGetItem(args []any, fail failFunc) (any, error) {
	arr, ok := args[0].([]any)
	i, okI := asInt(args[1])
	if !ok || !okI || i < 0 || i >= len(arr) {
		return nil, fail("needs an array and an index within it")
	}
	return arr[i], nil
}

// statesJSONMerge is the shallow merge Step Functions offers: b's keys
// over a's.
func statesJSONMerge(args []any, fail failFunc) (any, error) {
	a, ok1 := args[0].(map[string]any)
	b, ok2 := args[1].(map[string]any)
	if !ok1 || !ok2 {
		return nil, fail("both arguments must be objects")
	}
	if deep, _ := args[2].(bool); deep {
		return nil, fail("deep merge (true) is not supported by Step Functions")
	}
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out, nil
}

// formatTemplate fills each {} with the next argument; strings are
// inserted as is, other values as JSON. \{ and \} are literal braces.
func formatTemplate(tmpl string, args []any, fail failFunc) (any, error) {
	var b strings.Builder
	next := 0
	for i := 0; i < len(tmpl); i++ {
		c := tmpl[i]
		if c == '{' && i+1 < len(tmpl) && tmpl[i+1] == '}' {
			if next >= len(args) {
				return nil, fail("more {} than arguments")
			}
			switch v := args[next].(type) {
			case string:
				b.WriteString(v)
			case map[string]any, []any:
				return nil, fail("argument %d is not a string, number, boolean or null", next+1)
			default:
				enc, _ := encodeJSON(v)
				b.Write(enc)
			}
			next++
			i++
			continue
		}
		b.WriteByte(c)
	}
	if next != len(args) {
		return nil, fail("%d arguments for %d {}", len(args), next)
	}
	return b.String(), nil
}
