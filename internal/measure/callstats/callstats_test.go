package callstats_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

var (
	stack   *devstack.Stack
	counter callstats.Counter
)

func TestMain(m *testing.M) {
	cfg := devstack.Config{APIOptions: []func(*middleware.Stack) error{counter.Middleware()}}
	os.Exit(testkit.ForTests(m, cfg, func(s *devstack.Stack) { stack = s }))
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: pk},
		store.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

// countCase runs some calls and states what the counter must see.
type countCase struct {
	name     string
	run      func(ctx context.Context) error
	calls    map[string]int
	errors   map[string]int
	rcu, wcu float64
}

// countCases is one case per kind of call the counter tells apart; a table,
// it reads best whole.
func countCases() []countCase {
	db := stack.Clients.DynamoDB
	table := aws.String(stack.Table)
	total := types.ReturnConsumedCapacityTotal
	return []countCase{
		{
			name: "put item with capacity",
			run: func(ctx context.Context) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key("T#cs", "A"), ReturnConsumedCapacity: total})
				return err
			},
			calls: map[string]int{"DynamoDB.PutItem": 1}, wcu: 1,
		},
		{
			name: "put item without ReturnConsumedCapacity",
			run: func(ctx context.Context) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key("T#cs", "B")})
				return err
			},
			calls: map[string]int{"DynamoDB.PutItem": 1},
		},
		{
			name: "strongly consistent get is read capacity",
			run: func(ctx context.Context) error {
				_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: key("T#cs", "A"), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: total})
				return err
			},
			calls: map[string]int{"DynamoDB.GetItem": 1}, rcu: 1,
		},
		{
			name: "batch write sums the slice",
			run: func(ctx context.Context) error {
				var reqs []types.WriteRequest
				for i := range 3 {
					reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: key("T#cs", fmt.Sprint("batch", i))}})
				}
				_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{stack.Table: reqs}, ReturnConsumedCapacity: total})
				return err
			},
			calls: map[string]int{"DynamoDB.BatchWriteItem": 1}, wcu: 3,
		},
		{
			name: "failed condition counts as a call and an error",
			run: func(ctx context.Context) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key("T#cs", "A"), ConditionExpression: aws.String("attribute_not_exists(PK)")})
				if err == nil {
					return fmt.Errorf("condition did not fail")
				}
				return nil
			},
			calls: map[string]int{"DynamoDB.PutItem": 1}, errors: map[string]int{"DynamoDB.PutItem": 1},
		},
		{
			name: "other services by their SDK service id",
			run: func(ctx context.Context) error {
				if _, err := stack.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(stack.JobsBucket), Key: aws.String("cs/x"), Body: strings.NewReader("x")}); err != nil {
					return err
				}
				_, err := stack.Clients.SES.GetAccount(ctx, &sesv2.GetAccountInput{})
				return err
			},
			calls: map[string]int{"S3.PutObject": 1, "SESv2.GetAccount": 1},
		},
	}
}

func TestCountsOperationsAndCapacity(t *testing.T) {
	for _, tt := range countCases() {
		t.Run(tt.name, func(t *testing.T) { checkCounted(t, tt) })
	}
}

// checkCounted runs tt's calls and compares what the counter saw with tt.
func checkCounted(t *testing.T, tt countCase) {
	before := counter.Snapshot()
	if err := tt.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	d := counter.Snapshot().Sub(before)
	if fmt.Sprint(d.Calls) != fmt.Sprint(tt.calls) {
		t.Errorf("calls = %v, want %v", d.Calls, tt.calls)
	}
	if fmt.Sprint(d.Errors) != fmt.Sprint(nonNil(tt.errors)) {
		t.Errorf("errors = %v, want %v", d.Errors, tt.errors)
	}
	if d.ConsumedRCU != tt.rcu || d.ConsumedWCU != tt.wcu {
		t.Errorf("RCU %v WCU %v, want %v and %v", d.ConsumedRCU, d.ConsumedWCU, tt.rcu, tt.wcu)
	}
}

func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func TestRetriesCountedApartFromOperations(t *testing.T) {
	before := counter.Snapshot()
	stack.SES().Throttle(2) // two throttled attempts, the third succeeds
	if _, err := stack.Clients.SES.GetAccount(context.Background(), &sesv2.GetAccountInput{}); err != nil {
		t.Fatal(err)
	}
	d := counter.Snapshot().Sub(before)
	if d.Calls["SESv2.GetAccount"] != 1 || d.Retries["SESv2.GetAccount"] != 2 || d.Errors["SESv2.GetAccount"] != 0 {
		t.Errorf("calls %v retries %v errors %v, want 1, 2, 0", d.Calls, d.Retries, d.Errors)
	}
}

func TestConcurrentCallsAllCounted(t *testing.T) {
	var c callstats.Counter
	clients := stack.Clients.S3
	before := counter.Snapshot()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				_, err := clients.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(stack.JobsBucket), Key: aws.String(fmt.Sprintf("cs/%d/%d", w, i)), Body: strings.NewReader("x"),
				}, s3.WithAPIOptions(c.Middleware()))
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if got := c.Snapshot().Calls["S3.PutObject"]; got != 200 {
		t.Errorf("per-call counter saw %d puts, want 200", got)
	}
	if got := counter.Snapshot().Sub(before).Total(); got != 200 {
		t.Errorf("stack counter saw %d calls, want 200", got)
	}
}

func TestTableGolden(t *testing.T) {
	s := callstats.Stats{
		Calls:       map[string]int{"S3.PutObject": 12, "DynamoDB.TransactWriteItems": 100, "SESv2.SendEmail": 50},
		Errors:      map[string]int{"SESv2.SendEmail": 1},
		Retries:     map[string]int{"DynamoDB.TransactWriteItems": 3},
		ConsumedWCU: 400,
		ConsumedRCU: 2.5,
	}
	golden(t, "table.golden", s.Table())
	if s.Service("DynamoDB") != 100 || s.Total() != 162 {
		t.Errorf("Service/Total = %d/%d", s.Service("DynamoDB"), s.Total())
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), []byte(got))
}
