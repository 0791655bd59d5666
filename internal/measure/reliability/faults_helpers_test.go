package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulkprov/bulkprov/infra/statemachine"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
)

// Step keys: the state machine's substitution keys, and ingest.
const (
	stepIngest       = "Ingest"
	stepRecords      = statemachine.CreateRecordsFunctionArn
	stepProvisioning = statemachine.WriteProvisioningFunctionArn
	stepWelcome      = statemachine.SendWelcomeFunctionArn
	stepFinalize     = statemachine.FinalizeFunctionArn
)

// crashPoint is where an injected crash hits a step's invocation.
type crashPoint int

const (
	// panicBefore: the function process dies before doing anything
	// (Runtime.ExitError).
	panicBefore crashPoint = iota + 1
	// panicAfter: every side effect happened, then the process died before
	// answering (Runtime.ExitError).
	panicAfter
	// timeoutBefore: the invocation timed out before it started working
	// (States.Timeout).
	timeoutBefore
	// timeoutAfter: the work was done but the answer was lost
	// (States.Timeout).
	timeoutAfter
	// crashDuring: the invocation is cancelled right after its k-th
	// successful AWS call of one operation, i.e. between two side effects,
	// and reported as States.Timeout.
	crashDuring
)

func (c crashPoint) String() string {
	return [...]string{"", "panic-before", "panic-after", "timeout-before", "timeout-after", "crash-during"}[c]
}

// crashRule crashes the next Times invocations of Step for Tenant.
type crashRule struct {
	Tenant string
	Step   string
	Point  crashPoint
	Times  int
	// crashDuring: the operation (e.g. "TransactWriteItems", "PutObject",
	// "SendEmail") and how many of its calls succeed before the crash.
	Op    string
	After int
}

// httpFault answers an AWS call in place of the endpoint, at the HTTP
// layer, so that the SDK's deserializer and retryer see a real service
// error. With Commit, the request reaches the endpoint first (the write
// happens) and only the answer is replaced: a lost response.
type httpFault struct {
	Tenant string
	Op     string // operation name, e.g. TransactWriteItems
	Bucket string // PutObject/GetObject: only this bucket ("" any)
	Times  int    // how many calls get the fault
	Status int
	Body   string
	Header map[string]string
	Commit bool
}

// dynamoThrottle is DynamoDB's throttling answer (JSON 1.0 protocol).
func dynamoThrottle(tenant, op string, times int) httpFault {
	return httpFault{
		Tenant: tenant, Op: op, Times: times, Status: http.StatusBadRequest,
		Header: map[string]string{"Content-Type": "application/x-amz-json-1.0"},
		Body:   `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`,
	}
}

// s3InternalError is S3's 500 answer (REST-XML protocol).
func s3InternalError(tenant, bucket string, times int, commit bool) httpFault {
	return httpFault{
		Tenant: tenant, Op: "PutObject", Bucket: bucket, Times: times, Status: http.StatusInternalServerError, Commit: commit,
		Header: map[string]string{"Content-Type": "application/xml"},
		Body:   `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`,
	}
}

// faults holds the armed crash rules and HTTP faults.
type faults struct {
	mu      sync.Mutex
	crashes []*crashRule
	http    []*httpFault
	hits    map[string]int // "tenant/step/point" → crashes fired; "tenant/op" → HTTP faults fired
}

func newFaults() *faults { return &faults{hits: map[string]int{}} }

// arm adds rules; the returned func disarms what is left of them.
func (f *faults) arm(crashes []crashRule, https []httpFault) (disarm func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cs []*crashRule
	var hs []*httpFault
	for _, c := range crashes {
		c := c
		cs = append(cs, &c)
	}
	for _, h := range https {
		h := h
		hs = append(hs, &h)
	}
	f.crashes = append(f.crashes, cs...)
	f.http = append(f.http, hs...)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range cs {
			c.Times = 0
		}
		for _, h := range hs {
			h.Times = 0
		}
	}
}

// fired reports how many injected faults hit tenant so far.
func (f *faults) fired(tenant string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, v := range f.hits {
		if strings.HasPrefix(k, tenant+"/") {
			n += v
		}
	}
	return n
}

func (f *faults) takeCrash(tenant, step string) *crashRule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.crashes {
		if c.Tenant == tenant && c.Step == step && c.Times > 0 {
			c.Times--
			f.hits[tenant+"/"+step+"/"+c.Point.String()]++
			cp := *c
			return &cp
		}
	}
	return nil
}

func (f *faults) takeHTTP(tenant, op, bucket string) *httpFault {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range f.http {
		if h.Tenant == tenant && h.Op == op && (h.Bucket == "" || h.Bucket == bucket) && h.Times > 0 {
			h.Times--
			f.hits[tenant+"/"+op]++
			cp := *h
			return &cp
		}
	}
	return nil
}

// scope is what an invocation's context carries for the SDK middleware.
type scope struct {
	tenant string
	step   string
	// crashDuring state
	op      string
	after   int
	mu      sync.Mutex
	calls   int
	tripped bool
	cancel  context.CancelFunc
}

type scopeKey struct{}

func withScope(ctx context.Context, s *scope) context.Context {
	return context.WithValue(ctx, scopeKey{}, s)
}

func scopeFrom(ctx context.Context) *scope {
	s, _ := ctx.Value(scopeKey{}).(*scope)
	return s
}

var errInjectedCrash = errors.New("injected crash: the invocation was cut off")

// wrapTask is localrun.Config.Wrap: it records payloads and fires crashes.
func (f *faults) wrapTask(pl *payloadLog) func(string, stepfn.Handler) stepfn.Handler {
	return func(key string, next stepfn.Handler) stepfn.Handler {
		return func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
			pl.add("input "+key, in)
			tenant := tenantOfPayload(in)
			sc := &scope{tenant: tenant, step: key}
			rule := f.takeCrash(tenant, key)
			if rule != nil {
				switch rule.Point {
				case panicBefore:
					panic(fmt.Sprintf("injected crash before %s", key))
				case timeoutBefore:
					return nil, &stepfn.StateError{Name: stepfn.ErrTimeout, Cause: "injected: timed out before starting"}
				case crashDuring:
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					defer cancel()
					sc.op, sc.after, sc.cancel = rule.Op, rule.After, cancel
				}
			}
			out, err := next(withScope(ctx, sc), in)
			pl.add("output "+key, out)
			if rule != nil {
				switch rule.Point {
				case panicAfter:
					panic(fmt.Sprintf("injected crash after %s", key))
				case timeoutAfter:
					return nil, &stepfn.StateError{Name: stepfn.ErrTimeout, Cause: "injected: the answer was lost"}
				case crashDuring:
					sc.mu.Lock()
					tripped := sc.tripped
					sc.mu.Unlock()
					if tripped {
						return nil, &stepfn.StateError{Name: stepfn.ErrTimeout, Cause: "injected: cut off during its side effects"}
					}
				}
			}
			return out, err
		}
	}
}

// install adds the fault middleware to a client's stack (APIOptions).
func (f *faults) install(st *middleware.Stack) error {
	if err := recordBucket(st); err != nil {
		return err
	}
	// Initialize: crash-during accounting around the whole call, retries included.
	if err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("reliabilityCrashDuring",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			sc := scopeFrom(ctx)
			if err != nil || sc == nil || sc.cancel == nil || middleware.GetOperationName(ctx) != sc.op {
				return out, md, err
			}
			sc.mu.Lock()
			sc.calls++
			trip := !sc.tripped && sc.calls >= sc.after
			if trip {
				sc.tripped = true
			}
			sc.mu.Unlock()
			if trip {
				sc.cancel()
				return out, md, errInjectedCrash
			}
			return out, md, err
		}), middleware.Before); err != nil {
		return err
	}
	// Deserialize, innermost: answer in place of the endpoint.
	return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("reliabilityHTTPFault",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			sc := scopeFrom(ctx)
			if sc == nil {
				return next.HandleDeserialize(ctx, in)
			}
			fault := f.takeHTTP(sc.tenant, middleware.GetOperationName(ctx), bucketOf(ctx))
			if fault == nil {
				return next.HandleDeserialize(ctx, in)
			}
			var md middleware.Metadata
			if fault.Commit {
				out, m, err := next.HandleDeserialize(ctx, in)
				if err != nil {
					return out, m, err
				}
				if r, ok := out.RawResponse.(*smithyhttp.Response); ok && r.Body != nil {
					_, _ = io.Copy(io.Discard, r.Body)
					_ = r.Body.Close()
				}
				md = m
			}
			resp := &http.Response{
				StatusCode: fault.Status, Status: http.StatusText(fault.Status), Header: http.Header{},
				Body: io.NopCloser(strings.NewReader(fault.Body)), ContentLength: int64(len(fault.Body)),
			}
			for k, v := range fault.Header {
				resp.Header.Set(k, v)
			}
			resp.Header.Set("X-Amzn-Requestid", "reliability-fault")
			return middleware.DeserializeOutput{RawResponse: &smithyhttp.Response{Response: resp}}, md, nil
		}), middleware.After)
}

// bucketKey carries an S3 call's bucket from Initialize to Deserialize.
type bucketKey struct{}

func bucketOf(ctx context.Context) string {
	b, _ := middleware.GetStackValue(ctx, bucketKey{}).(string)
	return b
}

// recordBucket stores the bucket of S3 PutObject/GetObject calls for the
// HTTP fault filter.
func recordBucket(st *middleware.Stack) error {
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("reliabilityBucket",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			switch p := in.Parameters.(type) {
			case *s3.PutObjectInput:
				ctx = middleware.WithStackValue(ctx, bucketKey{}, deref(p.Bucket))
			case *s3.GetObjectInput:
				ctx = middleware.WithStackValue(ctx, bucketKey{}, deref(p.Bucket))
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// tenantOfKey is the tenant folder of an uploads key (scoping only).
func tenantOfKey(key string) string {
	rest, ok := strings.CutPrefix(key, "tenants/")
	if !ok {
		return ""
	}
	t, _, _ := strings.Cut(rest, "/")
	return t
}
