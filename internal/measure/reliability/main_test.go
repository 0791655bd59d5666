package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/smithy-go/middleware"
	"go.uber.org/goleak"

	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
	"github.com/bulkprov/bulkprov/internal/secrets"
)

// suite is the one pipeline every test of this binary shares (DynamoDB
// Local takes seconds and ~400 MB to start). Tests keep apart by tenant and
// run one at a time: the SES fault hooks are stack-wide.
var suite *harness

// harness is the shared pipeline plus what the tests observe and inject.
type harness struct {
	p        *localrun.Pipeline
	logs     *syncBuffer // every JSON log line of every component
	faults   *faults
	payloads *payloadLog // Step Functions payloads: task inputs, outputs, events
	box      *secrets.Box
	seq      atomic.Int64 // tenant numbers: unique names, DIDs and MACs

	cleanOnce sync.Once
	clean     *observed
}

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h := &harness{logs: &syncBuffer{}, faults: newFaults(), payloads: &payloadLog{}}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := localrun.Start(ctx, localrun.Config{
		Tenant:     "relbase",
		Logger:     logger,
		APIOptions: []func(*middleware.Stack) error{h.faults.install},
		OnEvent:    h.payloads.event,
		// Retry back-off is skipped; the retries themselves still happen.
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
		Wrap:  h.faults.wrapTask(h.payloads),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability: start pipeline:", err)
		return 1
	}
	h.p = p
	h.box = secrets.NewBox(p.Stack.Clients.KMS, p.Stack.KMSKeyID)
	// Ingest runs behind the same fault scope as the steps: its tenant is
	// known from the key, so SDK faults can target one tenant's uploads.
	p.Stack.SetUploadHandler(h.faults.wrapIngest(p.Handlers.Ingest.Handle))
	suite = h

	code := m.Run()

	if err := p.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: close pipeline:", err)
		code = max(code, 1)
	}
	// The engine, the loopback servers and the S3 event deliveries must all
	// have stopped: nothing of the pipeline may outlive Close.
	if err := goleak.Find(
		goleak.IgnoreCurrent(),
		// Idle keep-alive connections of the SDK's shared HTTP transport
		// are closed by the peer's shutdown, asynchronously.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: goroutines outlive the pipeline:", err)
		code = max(code, 1)
	}
	return code
}

// syncBuffer is a bytes.Buffer safe for concurrent loggers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// payloadLog keeps every Step Functions payload: task inputs and outputs as
// the handlers saw them, and the engine's event outputs.
type payloadLog struct {
	mu   sync.Mutex
	list []string
}

func (l *payloadLog) add(kind string, b []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.list = append(l.list, kind+" "+string(b))
}

func (l *payloadLog) event(ev stepfn.Event) {
	b, _ := json.Marshal(ev)
	l.add("event", b)
}

func (l *payloadLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b bytes.Buffer
	for _, s := range l.list {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

// tenantOfPayload finds the tenant in any step's input: BatchInput.tenant
// (create-records) or tenant (the others).
func tenantOfPayload(in json.RawMessage) string {
	var v struct {
		Tenant     string `json:"tenant"`
		BatchInput struct {
			Tenant string `json:"tenant"`
		} `json:"BatchInput"`
	}
	_ = json.Unmarshal(in, &v)
	if v.Tenant != "" {
		return v.Tenant
	}
	return v.BatchInput.Tenant
}

// wrapIngest scopes each S3 event to its key's tenant.
func (f *faults) wrapIngest(next func(context.Context, events.S3Event) error) func(context.Context, events.S3Event) error {
	return func(ctx context.Context, ev events.S3Event) error {
		tenant := ""
		if len(ev.Records) > 0 {
			tenant = tenantOfKey(ev.Records[0].S3.Object.URLDecodedKey)
		}
		// Lambda invokes S3 notifications asynchronously and retries a
		// failed invocation twice (the default the CDK stack keeps).
		var err error
		for range 3 {
			if err = next(withScope(ctx, &scope{tenant: tenant, step: stepIngest}), ev); err == nil || ctx.Err() != nil {
				return err
			}
		}
		return err
	}
}
