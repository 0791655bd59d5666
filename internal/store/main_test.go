package store_test

import (
	"os"
	"testing"

	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// One DynamoDB Local (and KMS) for the package's tests, as in the other
// packages: each test keeps to its own tenants, and the call counts are
// taken as differences of counter snapshots around the calls measured.
var (
	stack   *devstack.Stack
	counter callstats.Counter
)

func TestMain(m *testing.M) {
	cfg := devstack.Config{APIOptions: []func(*middleware.Stack) error{counter.Middleware()}}
	os.Exit(testkit.ForTests(m, cfg, func(s *devstack.Stack) { stack = s }))
}
