package cost

import (
	"context"
	"math"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/store"
)

// Meter models what DynamoDB bills for the requests a piece of code makes
// (request units by item size, as AWS documents them) and counts S3 PUTs
// per bucket. DynamoDB Local reports a flat capacity per transaction, so the
// units are computed from the requests and responses instead of read from
// ConsumedCapacity. Failed requests are not counted. Safe for concurrent
// use; the zero value is ready.
type Meter struct {
	mu sync.Mutex
	m  Metered
}

// Metered is a snapshot of a Meter.
type Metered struct {
	WriteUnits         float64 // all DynamoDB write request units
	TransactWriteUnits float64 // the part written inside TransactWriteItems
	TransactPutItems   int     // items Put inside transactions (objects created)
	TransactPutUnits   float64 // the part of TransactWriteUnits those Puts cost
	// ItemWrites counts every item written (Put, Update or Delete, inside
	// a transaction or not, each BatchWriteItem request and each PartiQL
	// write statement), whatever its size.
	ItemWrites int
	ReadUnits  float64
	S3Puts     map[string]int // PutObject calls by bucket
}

// Snapshot returns a copy of the totals so far.
func (m *Meter) Snapshot() Metered {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.m
	out.S3Puts = map[string]int{}
	for k, v := range m.m.S3Puts {
		out.S3Puts[k] = v
	}
	return out
}

// Sub returns m minus an earlier snapshot.
func (m Metered) Sub(earlier Metered) Metered {
	out := Metered{
		WriteUnits:         m.WriteUnits - earlier.WriteUnits,
		TransactWriteUnits: m.TransactWriteUnits - earlier.TransactWriteUnits,
		TransactPutItems:   m.TransactPutItems - earlier.TransactPutItems,
		TransactPutUnits:   m.TransactPutUnits - earlier.TransactPutUnits,
		ItemWrites:         m.ItemWrites - earlier.ItemWrites,
		ReadUnits:          m.ReadUnits - earlier.ReadUnits,
		S3Puts:             map[string]int{},
	}
	for k, v := range m.S3Puts {
		if d := v - earlier.S3Puts[k]; d != 0 {
			out.S3Puts[k] = d
		}
	}
	return out
}

// Middleware returns the SDK middleware that feeds m; add it to
// aws.Config.APIOptions.
func (m *Meter) Middleware() func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("cost.Meter",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				if err == nil {
					m.record(in.Parameters, out.Result)
				}
				return out, md, err
			}), middleware.After)
	}
}

// record adds what one successful request costs.
func (m *Meter) record(params, result any) {
	if d, ok := requestCost(params, result); ok {
		m.add(d)
	}
}

func (m *Meter) add(d Metered) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.m.WriteUnits += d.WriteUnits
	m.m.TransactWriteUnits += d.TransactWriteUnits
	m.m.TransactPutItems += d.TransactPutItems
	m.m.TransactPutUnits += d.TransactPutUnits
	m.m.ItemWrites += d.ItemWrites
	m.m.ReadUnits += d.ReadUnits
	for k, v := range d.S3Puts {
		if m.m.S3Puts == nil {
			m.m.S3Puts = map[string]int{}
		}
		m.m.S3Puts[k] += v
	}
}

// requestCost is what one successful request costs, from its input and,
// for reads, its output (nil when absent). ok is false for requests the
// meter does not count.
func requestCost(params, result any) (d Metered, ok bool) {
	switch in := params.(type) {
	case *dynamodb.TransactWriteItemsInput:
		return transactWriteCost(in), true
	case *dynamodb.PutItemInput:
		return Metered{WriteUnits: writeUnits(in.Item), ItemWrites: 1}, true
	case *dynamodb.UpdateItemInput, *dynamodb.DeleteItemInput:
		return Metered{WriteUnits: 1, ItemWrites: 1}, true // assumed within 1 KB
	case *dynamodb.BatchWriteItemInput:
		return batchWriteCost(in), true
	case *dynamodb.BatchExecuteStatementInput:
		return partiQLCost(in), true
	case *dynamodb.GetItemInput:
		out, _ := result.(*dynamodb.GetItemOutput)
		size := 0
		if out != nil {
			size = store.ItemSize(out.Item)
		}
		return Metered{ReadUnits: readUnits(size, aws.ToBool(in.ConsistentRead))}, true
	case *dynamodb.BatchGetItemInput:
		out, _ := result.(*dynamodb.BatchGetItemOutput)
		return batchGetCost(in, out), true
	case *dynamodb.QueryInput:
		out, _ := result.(*dynamodb.QueryOutput)
		size := 0
		if out != nil {
			for _, it := range out.Items {
				size += store.ItemSize(it)
			}
		}
		return Metered{ReadUnits: readUnits(size, aws.ToBool(in.ConsistentRead))}, true
	case *s3.PutObjectInput:
		return Metered{S3Puts: map[string]int{aws.ToString(in.Bucket): 1}}, true
	}
	return Metered{}, false
}

// transactWriteCost: every write in a transaction costs twice its units,
// and a condition check is a transactional read.
func transactWriteCost(in *dynamodb.TransactWriteItemsInput) Metered {
	var d Metered
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			d.TransactWriteUnits += 2 * writeUnits(it.Put.Item)
			d.TransactPutUnits += 2 * writeUnits(it.Put.Item)
			d.TransactPutItems++
			d.ItemWrites++
		case it.Update != nil, it.Delete != nil:
			d.TransactWriteUnits += 2 // assumed within 1 KB
			d.ItemWrites++
		case it.ConditionCheck != nil:
			d.ReadUnits += 2 // a transactional read of an item ≤ 4 KB
		}
	}
	d.WriteUnits = d.TransactWriteUnits
	return d
}

// batchWriteCost: each Put by its size, each Delete one unit.
func batchWriteCost(in *dynamodb.BatchWriteItemInput) Metered {
	var d Metered
	for _, reqs := range in.RequestItems {
		for _, r := range reqs {
			d.ItemWrites++
			if r.PutRequest != nil {
				d.WriteUnits += writeUnits(r.PutRequest.Item)
			} else {
				d.WriteUnits++
			}
		}
	}
	return d
}

// partiQLCost: each PartiQL write statement is billed as its single-item
// write (assumed within 1 KB), whether its condition held or not; any other
// statement as a read.
func partiQLCost(in *dynamodb.BatchExecuteStatementInput) Metered {
	var d Metered
	for _, st := range in.Statements {
		verb, _, _ := strings.Cut(strings.TrimSpace(aws.ToString(st.Statement)), " ")
		switch strings.ToUpper(verb) {
		case "UPDATE", "INSERT", "DELETE":
			d.WriteUnits++
			d.ItemWrites++
		default:
			d.ReadUnits++
		}
	}
	return d
}

// batchGetCost: every requested key costs at least one (half) unit, found
// or not; an item found costs by its size.
func batchGetCost(in *dynamodb.BatchGetItemInput, out *dynamodb.BatchGetItemOutput) Metered {
	var d Metered
	for table, keys := range in.RequestItems {
		consistent := aws.ToBool(keys.ConsistentRead)
		d.ReadUnits += float64(len(keys.Keys)) * readUnits(0, consistent)
		if out == nil {
			continue
		}
		for _, it := range out.Responses[table] {
			d.ReadUnits += readUnits(store.ItemSize(it), consistent) - readUnits(0, consistent)
		}
	}
	return d
}

// writeUnits: one unit per started KB, at least one.
func writeUnits(item map[string]types.AttributeValue) float64 {
	return math.Max(1, math.Ceil(float64(store.ItemSize(item))/1024))
}

// readUnits: one unit per started 4 KB for a strongly consistent read,
// half for an eventually consistent one; at least one (half) unit.
func readUnits(size int, consistent bool) float64 {
	u := math.Max(1, math.Ceil(float64(size)/4096))
	if !consistent {
		u /= 2
	}
	return u
}
