package testkit

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
)

// ForTests starts one devstack.Stack for a whole test binary, hands it to use, runs
// the tests, closes the stack and returns the exit code. Starting DynamoDB
// Local takes seconds, so packages share one stack rather than start one per
// test; tests then keep apart by using their own tenants, keys or tables.
//
//	var stack *devstack.Stack
//
//	func TestMain(m *testing.M) {
//		os.Exit(testkit.ForTests(m, devstack.Config{}, func(s *devstack.Stack) { stack = s }))
//	}
//
// A stack that cannot start fails the binary with the reason (no java, no
// jar: run `npm ci`), it does not skip the tests.
func ForTests(m *testing.M, cfg devstack.Config, use func(*devstack.Stack)) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	s, err := devstack.Start(ctx, cfg)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit.ForTests:", err)
		return 1
	}
	use(s)
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "testkit.ForTests: close:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
