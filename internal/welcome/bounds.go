package welcome

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
	"text/template/parse"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Output bounds of every welcome email (issue #17): a tenant's template
// may not turn one message into megabytes or hold a sender for long. A
// welcome email is a few KB; the bounds leave two orders of magnitude.
const (
	maxBodyRendered         = 256 << 10 // bytes per body (text, HTML)
	maxSubjectRenderedBytes = 4 << 10
	maxRenderTime           = 250 * time.Millisecond // all three parts of one message
)

// errRenderBound stops a template's execution at a bound.
var errRenderBound = errors.New("render bound exceeded")

// boundedBuffer collects a template's output up to max bytes and until
// deadline; a write past either fails, which stops the execution.
type boundedBuffer struct {
	bytes.Buffer
	field    string
	max      int
	deadline time.Time
	over     string // which bound stopped it
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	switch {
	case b.Len()+len(p) > b.max:
		b.over = fmt.Sprintf("renders to more than %d bytes", b.max)
		return 0, errRenderBound
	case time.Now().After(b.deadline):
		b.over = fmt.Sprintf("takes longer than %s to render", maxRenderTime)
		return 0, errRenderBound
	}
	return b.Buffer.Write(p)
}

func renderError(b *boundedBuffer, err error) error {
	if b.over != "" || errors.Is(err, errRenderBound) {
		return pbx.Errorf(pbx.ELIMIT, b.field, "template %s; keep the email short and without loops", b.over)
	}
	return &pbx.Error{Code: pbx.EINVALID, Field: b.field, Message: "template does not render: " + err.Error(), Err: err}
}

// textTrees returns the parse trees of t's templates, sorted by name so a
// fault is reported the same way every time.
func textTrees(t *texttemplate.Template) []*parse.Tree {
	var out []*parse.Tree
	for _, tt := range t.Templates() {
		out = append(out, tt.Tree)
	}
	return sortTrees(out)
}

// htmlTrees is textTrees for an HTML template.
func htmlTrees(t *htmltemplate.Template) []*parse.Tree {
	var out []*parse.Tree
	for _, tt := range t.Templates() {
		out = append(out, tt.Tree)
	}
	return sortTrees(out)
}

func sortTrees(trees []*parse.Tree) []*parse.Tree {
	slices.SortFunc(trees, func(a, b *parse.Tree) int {
		if a == nil || b == nil {
			return 0
		}
		return strings.Compare(a.Name, b.Name)
	})
	return trees
}

// treeFaults is what one walk of a template's parse trees finds.
type treeFaults struct {
	// unknown is the first field that is not a known variable, so the
	// message names it (a dry run alone would only say that execution
	// failed somewhere).
	unknown string
	// unbounded is the first action that can loop or multiply output:
	// range (over an integer it loops that many times, nested it
	// multiplies), break/continue, and template (a template calling
	// another twice doubles the output per level). What remains executes
	// each node once, so rendering time and size grow with the template's
	// own size, which is bounded when it is saved.
	unbounded string
	// defines: the text has {{define}} or {{block}} (more than one tree).
	defines bool
}

// inspectTrees walks trees once, recording the first unknown variable and
// the first unbounded action.
func inspectTrees(trees []*parse.Tree) treeFaults {
	w := treeWalker{known: (Vars{}).data(), faults: treeFaults{defines: len(trees) > 1}}
	for _, t := range trees {
		if t != nil && t.Root != nil {
			w.walk(t.Root)
		}
	}
	return w.faults
}

// treeWalker is inspectTrees' state.
type treeWalker struct {
	known  map[string]any
	faults treeFaults
}

func (w *treeWalker) variable(name string) {
	if _, ok := w.known[name]; !ok && w.faults.unknown == "" {
		w.faults.unknown = name
	}
}

func (w *treeWalker) unbounded(action string) {
	if w.faults.unbounded == "" {
		w.faults.unbounded = action
	}
}

// walk visits n and everything under it, in source order.
func (w *treeWalker) walk(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.walk(c)
		}
	case *parse.ActionNode:
		w.walk(n.Pipe)
	case *parse.IfNode:
		w.walk(n.Pipe)
		w.walk(n.List)
		w.walk(n.ElseList)
	case *parse.RangeNode:
		w.unbounded("{{range}}")
		w.walk(n.Pipe)
		w.walk(n.List)
		w.walk(n.ElseList)
	case *parse.WithNode:
		w.walk(n.Pipe)
		w.walk(n.List)
		w.walk(n.ElseList)
	case *parse.TemplateNode:
		w.unbounded("{{template}}")
		w.walk(n.Pipe)
	case *parse.BreakNode:
		w.unbounded("{{break}}")
	case *parse.ContinueNode:
		w.unbounded("{{continue}}")
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			w.walk(c)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			w.walk(a)
		}
	case *parse.ChainNode:
		w.walk(n.Node)
	case *parse.FieldNode:
		w.variable(n.Ident[0])
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			w.variable(n.Ident[1])
		}
	}
}

// variableError is EINVALID naming the first unknown variable, or nil.
func (f treeFaults) variableError(field string) error {
	if f.unknown == "" {
		return nil
	}
	return pbx.Errorf(pbx.EINVALID, field, "unknown variable {{.%s}}; known variables: %s", f.unknown, strings.Join(VariableNames(), ", "))
}

// boundError refuses the actions of a tenant's template that can loop or
// multiply output (see treeFaults), or nil.
func (f treeFaults) boundError(field string) error {
	switch {
	case f.defines:
		return pbx.Errorf(pbx.EINVALID, field, "{{define}} and {{block}} are not allowed in a tenant template")
	case f.unbounded != "":
		return pbx.Errorf(pbx.EINVALID, field, "%s is not allowed in a tenant template: it can repeat output without bound", f.unbounded)
	}
	return nil
}
