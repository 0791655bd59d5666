package welcome

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
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

func textTrees(t *texttemplate.Template) []*parse.Tree {
	var out []*parse.Tree
	for _, tt := range t.Templates() {
		out = append(out, tt.Tree)
	}
	return out
}

func htmlTrees(t *htmltemplate.Template) []*parse.Tree {
	var out []*parse.Tree
	for _, tt := range t.Templates() {
		out = append(out, tt.Tree)
	}
	return out
}

// checkBounded refuses the actions of a tenant's template that can loop or
// multiply output: range (over an integer it loops that many times, nested
// it multiplies), break/continue, and define/template/block (a template
// calling another twice doubles the output per level). What remains
// executes each node once, so rendering time and size grow with the
// template's own size, which is bounded when it is saved.
func checkBounded(field string, trees []*parse.Tree) error {
	if len(trees) > 1 {
		return pbx.Errorf(pbx.EINVALID, field, "{{define}} and {{block}} are not allowed in a tenant template")
	}
	var bad string
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if n == nil || bad != "" {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.RangeNode:
			bad = "{{range}}"
		case *parse.BreakNode:
			bad = "{{break}}"
		case *parse.ContinueNode:
			bad = "{{continue}}"
		case *parse.TemplateNode:
			bad = "{{template}}"
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		}
	}
	for _, t := range trees {
		if t != nil {
			walk(t.Root)
		}
	}
	if bad != "" {
		return pbx.Errorf(pbx.EINVALID, field, "%s is not allowed in a tenant template: it can repeat output without bound", bad)
	}
	return nil
}
