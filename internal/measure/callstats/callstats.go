// Package callstats counts the AWS API calls a piece of code makes and the
// DynamoDB capacity they consume, from one aws-sdk-go-v2 middleware. It backs
// the cost model (billable calls per row) and the tests that hold it.
package callstats

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// Stats is a snapshot of a Counter. Keys are "Service.Operation" with the
// SDK's service id, e.g. "S3.PutObject", "DynamoDB.TransactWriteItems".
type Stats struct {
	Calls   map[string]int // operations: one per API call the code made
	Errors  map[string]int // operations that returned an error in the end
	Retries map[string]int // attempts beyond the first, by the SDK's retryer
	// DynamoDB capacity units from ConsumedCapacity in outputs; present only
	// when the request set ReturnConsumedCapacity.
	ConsumedRCU float64
	ConsumedWCU float64
}

// Total is the number of operations over all services.
func (s Stats) Total() int {
	n := 0
	for _, v := range s.Calls {
		n += v
	}
	return n
}

// Service is the number of operations of one service id, e.g. "DynamoDB".
func (s Stats) Service(id string) int {
	n := 0
	for k, v := range s.Calls {
		if strings.HasPrefix(k, id+".") {
			n += v
		}
	}
	return n
}

// Sub returns s minus an earlier snapshot: the calls made in between.
func (s Stats) Sub(earlier Stats) Stats {
	sub := func(a, b map[string]int) map[string]int {
		out := map[string]int{}
		for k, v := range a {
			if d := v - b[k]; d != 0 {
				out[k] = d
			}
		}
		return out
	}
	return Stats{
		Calls:       sub(s.Calls, earlier.Calls),
		Errors:      sub(s.Errors, earlier.Errors),
		Retries:     sub(s.Retries, earlier.Retries),
		ConsumedRCU: s.ConsumedRCU - earlier.ConsumedRCU,
		ConsumedWCU: s.ConsumedWCU - earlier.ConsumedWCU,
	}
}

// Table renders the stats as an aligned text table, one operation a line
// in name order, then totals.
func (s Stats) Table() string {
	var b strings.Builder
	width := len("operation")
	for k := range s.Calls {
		width = max(width, len(k))
	}
	fmt.Fprintf(&b, "%-*s %8s %8s %8s\n", width, "operation", "calls", "errors", "retries")
	totalErr, totalRetry := 0, 0
	for _, k := range slices.Sorted(maps.Keys(s.Calls)) {
		fmt.Fprintf(&b, "%-*s %8d %8d %8d\n", width, k, s.Calls[k], s.Errors[k], s.Retries[k])
		totalErr += s.Errors[k]
		totalRetry += s.Retries[k]
	}
	fmt.Fprintf(&b, "%-*s %8d %8d %8d\n", width, "total", s.Total(), totalErr, totalRetry)
	fmt.Fprintf(&b, "DynamoDB consumed: %.1f RCU, %.1f WCU\n", s.ConsumedRCU, s.ConsumedWCU)
	return b.String()
}

// Counter accumulates Stats; it is safe for concurrent use. The zero value
// is ready.
type Counter struct {
	mu    sync.Mutex
	stats Stats
}

// Snapshot returns a copy of the counts so far.
func (c *Counter) Snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{
		Calls:       maps.Clone(nonNil(c.stats.Calls)),
		Errors:      maps.Clone(nonNil(c.stats.Errors)),
		Retries:     maps.Clone(nonNil(c.stats.Retries)),
		ConsumedRCU: c.stats.ConsumedRCU,
		ConsumedWCU: c.stats.ConsumedWCU,
	}
}

func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func (c *Counter) add(field *map[string]int, key string) {
	if *field == nil {
		*field = map[string]int{}
	}
	(*field)[key]++
}

// Middleware returns the SDK middleware that feeds c. Add it to
// aws.Config.APIOptions (every client built from the config then counts)
// or to one client's Options.APIOptions.
func (c *Counter) Middleware() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		op := middleware.InitializeMiddlewareFunc("callstats.Operation", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			ctx = middleware.WithStackValue(ctx, attemptsKey{}, new(int))
			out, md, err := next.HandleInitialize(ctx, in)
			c.operation(key(ctx), out.Result, err)
			return out, md, err
		})
		// After the service-metadata middleware, so the names are known.
		if err := stack.Initialize.Add(op, middleware.After); err != nil {
			return err
		}
		attempt := middleware.FinalizeMiddlewareFunc("callstats.Attempt", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.attempt(ctx)
			return next.HandleFinalize(ctx, in)
		})
		// Inside the retry loop: runs once per attempt.
		if _, ok := stack.Finalize.Get("Retry"); ok {
			return stack.Finalize.Insert(attempt, "Retry", middleware.After)
		}
		return stack.Finalize.Add(attempt, middleware.After)
	}
}

// attemptsKey marks the context of one operation, to tell retries apart.
type attemptsKey struct{}

func key(ctx context.Context) string {
	return awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
}

func (c *Counter) attempt(ctx context.Context) {
	n, _ := middleware.GetStackValue(ctx, attemptsKey{}).(*int)
	if n == nil {
		return
	}
	*n++
	if *n > 1 {
		c.mu.Lock()
		c.add(&c.stats.Retries, key(ctx))
		c.mu.Unlock()
	}
}

func (c *Counter) operation(k string, result any, err error) {
	rcu, wcu := consumed(k, result)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(&c.stats.Calls, k)
	if err != nil {
		c.add(&c.stats.Errors, k)
	}
	c.stats.ConsumedRCU += rcu
	c.stats.ConsumedWCU += wcu
}

// isWrite reports whether a DynamoDB operation consumes write capacity.
func isWrite(op string) bool {
	switch op {
	case "DynamoDB.PutItem", "DynamoDB.UpdateItem", "DynamoDB.DeleteItem",
		"DynamoDB.BatchWriteItem", "DynamoDB.TransactWriteItems":
		return true
	}
	return false
}

// consumed sums the ConsumedCapacity field (single or slice) of any output.
// Read and write units are taken as reported; when only the total is, the
// operation decides which kind it is.
func consumed(op string, result any) (rcu, wcu float64) {
	v := reflect.ValueOf(result)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return 0, 0
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, 0
	}
	f := v.FieldByName("ConsumedCapacity")
	if !f.IsValid() {
		return 0, 0
	}
	var caps []types.ConsumedCapacity
	switch cc := f.Interface().(type) {
	case *types.ConsumedCapacity:
		if cc != nil {
			caps = append(caps, *cc)
		}
	case []types.ConsumedCapacity:
		caps = cc
	}
	for _, cc := range caps {
		r, w := deref(cc.ReadCapacityUnits), deref(cc.WriteCapacityUnits)
		if cc.ReadCapacityUnits == nil && cc.WriteCapacityUnits == nil {
			if isWrite(op) {
				w = deref(cc.CapacityUnits)
			} else {
				r = deref(cc.CapacityUnits)
			}
		}
		rcu += r
		wcu += w
	}
	return rcu, wcu
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}
