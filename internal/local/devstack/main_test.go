package devstack_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/aws/smithy-go/middleware"
	"go.uber.org/goleak"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// One stack for the package's tests, as other packages are meant to do it;
// counter sees every call the tests make through stack.Clients.
var (
	stack   *devstack.Stack
	counter callstats.Counter
)

func TestMain(m *testing.M) {
	cfg := devstack.Config{APIOptions: []func(*middleware.Stack) error{counter.Middleware()}}
	code := testkit.ForTests(m, cfg, func(s *devstack.Stack) { stack = s })
	if code == 0 {
		// After Close nothing of the stack may keep running.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after Close:", err)
			code = 1
		}
	}
	os.Exit(code)
}
