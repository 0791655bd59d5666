package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/bulkprov/bulkprov/internal/local/stepfn"
)

// progress follows the engine's Map events: a bar on a terminal, plain
// lines otherwise (logs and CI keep readable output).
type progress struct {
	mu    sync.Mutex
	out   io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	state string // the Map the bar is showing
	last  int    // plain mode: last reported tenth
}

func newProgress(out io.Writer) *progress {
	f, ok := out.(*os.File)
	return &progress{out: out, tty: ok && term.IsTerminal(int(f.Fd()))}
}

var phaseNames = map[string]string{
	"CreateUsers":       "users and phones",
	"SendWelcomeEmails": "welcome emails",
}

func (p *progress) event(ev stepfn.Event) {
	name, isPhase := phaseNames[ev.State]
	if !isPhase {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Type {
	case stepfn.EventMapStarted:
		p.state, p.last = ev.State, -1
		if p.tty {
			p.bar = progressbar.NewOptions(max(ev.Total, 1), progressbar.OptionSetWriter(p.out),
				progressbar.OptionSetDescription(fmt.Sprintf("%s %s", ev.Execution, name)),
				progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
		}
	case stepfn.EventMapIterationDone, stepfn.EventMapIterationFailed:
		if ev.State != p.state {
			return
		}
		done := ev.Succeeded + ev.Failed
		if p.tty && p.bar != nil {
			_ = p.bar.Set(done)
			return
		}
		if tenth := done * 10 / max(ev.Total, 1); tenth != p.last {
			p.last = tenth
			fmt.Fprintf(p.out, "%s: %s %d/%d (%d failed)\n", ev.Execution, name, done, ev.Total, ev.Failed)
		}
	case stepfn.EventMapSucceeded, stepfn.EventMapFailed:
		if p.bar != nil {
			_ = p.bar.Finish()
			p.bar = nil
		}
		if !p.tty {
			fmt.Fprintf(p.out, "%s: %s finished: %d done, %d failed\n", ev.Execution, name, ev.Succeeded, ev.Failed)
		}
	}
}
