package provision

import (
	"os"
	"testing"

	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// The handler and server tests run against one embedded stack (S3, KMS,
// DynamoDB Local) shared by the test binary; calls are counted by a
// callstats.Counter on its clients. Tests keep apart by tenant name.
type testEnv struct {
	stack *devstack.Stack
	calls *callstats.Counter
}

// env is set once by TestMain before any test runs (the pattern
// devstack.ForTests documents).
var env testEnv

func TestMain(m *testing.M) {
	calls := &callstats.Counter{}
	cfg := devstack.Config{APIOptions: []func(*middleware.Stack) error{calls.Middleware()}}
	os.Exit(testkit.ForTests(m, cfg, func(s *devstack.Stack) { env = testEnv{stack: s, calls: calls} }))
}
