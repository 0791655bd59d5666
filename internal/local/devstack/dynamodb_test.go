package devstack_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/store"
)

func TestTableIsCreatedWithTTL(t *testing.T) {
	ctx := context.Background()
	db := stack.Clients.DynamoDB
	// Start already created it; a second call is a no-op.
	if err := store.CreateTable(ctx, db, stack.Table); err != nil {
		t.Fatalf("CreateTable again: %v", err)
	}
	d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(stack.Table)})
	if err != nil {
		t.Fatal(err)
	}
	if d.Table.TableStatus != types.TableStatusActive {
		t.Errorf("status = %s", d.Table.TableStatus)
	}
	if bm := d.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v, want PAY_PER_REQUEST", bm)
	}
	keys := map[types.KeyType]string{}
	for _, k := range d.Table.KeySchema {
		keys[k.KeyType] = aws.ToString(k.AttributeName)
	}
	if keys[types.KeyTypeHash] != store.AttrPK || keys[types.KeyTypeRange] != store.AttrSK {
		t.Errorf("key schema = %v", keys)
	}
	ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(stack.Table)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ttl.TimeToLiveDescription; aws.ToString(got.AttributeName) != store.AttrTTL || got.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("TTL = %s on %q, want ENABLED on %q", got.TimeToLiveStatus, aws.ToString(got.AttributeName), store.AttrTTL)
	}
}

func item(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: pk},
		store.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func createBoth(token string) *dynamodb.TransactWriteItemsInput {
	in := &dynamodb.TransactWriteItemsInput{ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	for _, it := range []map[string]types.AttributeValue{
		item(store.TenantPK("txtest"), store.SecretSK("100-txtest")),
		item(store.TenantPK("txtest"), store.ExtensionSK("100")),
	} {
		in.TransactItems = append(in.TransactItems, types.TransactWriteItem{Put: &types.Put{
			TableName:           aws.String(stack.Table),
			Item:                it,
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}})
	}
	return in
}

func TestTransactWriteItemsIdempotentAndCounted(t *testing.T) {
	ctx := context.Background()
	db := stack.Clients.DynamoDB
	before := counter.Snapshot()

	out, err := db.TransactWriteItems(ctx, createBoth("token-txtest-1"))
	if err != nil {
		t.Fatalf("first write: %v", err)
	}
	if len(out.ConsumedCapacity) == 0 || aws.ToFloat64(out.ConsumedCapacity[0].CapacityUnits) <= 0 {
		t.Errorf("ConsumedCapacity = %+v, want > 0 units", out.ConsumedCapacity)
	}
	// A replay with the same token is a success, not a condition failure.
	if _, err := db.TransactWriteItems(ctx, createBoth("token-txtest-1")); err != nil {
		t.Errorf("replay with the same token: %v", err)
	}
	// Without the token the conditions see the items and cancel.
	_, err = db.TransactWriteItems(ctx, createBoth(""))
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		t.Fatalf("write without token: err = %v, want TransactionCanceledException", err)
	}
	if r := cancelled.CancellationReasons; len(r) != 2 || aws.ToString(r[0].Code) != "ConditionalCheckFailed" {
		t.Errorf("cancellation reasons = %+v", r)
	}

	d := counter.Snapshot().Sub(before)
	if got := d.Calls["DynamoDB.TransactWriteItems"]; got != 3 {
		t.Errorf("counted %d TransactWriteItems, want 3\n%s", got, d.Table())
	}
	if got := d.Errors["DynamoDB.TransactWriteItems"]; got != 1 {
		t.Errorf("counted %d failed TransactWriteItems, want 1", got)
	}
	// Two items cost 2 WCU each in a transaction; the replay is answered
	// from the token at a read cost (2 RCU), as DynamoDB documents.
	if d.ConsumedWCU != 4 || d.ConsumedRCU != 2 {
		t.Errorf("consumed RCU %v WCU %v, want 2 and 4", d.ConsumedRCU, d.ConsumedWCU)
	}
}
