package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/store"
)

func TestCreateTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := stack.Clients.DynamoDB

	// A table made by an earlier run that stopped before enabling TTL.
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("half-made"),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(store.AttrPK), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String(store.AttrSK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(store.AttrPK), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(store.AttrSK), KeyType: types.KeyTypeRange}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name  string
		calls int
	}{
		{"fresh", 1},
		{"fresh", 2}, // idempotent
		{"half-made", 1},
	} {
		for range tt.calls {
			if err := store.CreateTable(ctx, db, tt.name); err != nil {
				t.Fatalf("CreateTable(%s): %v", tt.name, err)
			}
		}
		d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tt.name)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Table.TableStatus != types.TableStatusActive {
			t.Errorf("%s: status %s", tt.name, d.Table.TableStatus)
		}
		if bm := d.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
			t.Errorf("%s: billing %+v", tt.name, bm)
		}
		schema := map[types.KeyType]string{}
		for _, k := range d.Table.KeySchema {
			schema[k.KeyType] = aws.ToString(k.AttributeName)
		}
		if schema[types.KeyTypeHash] != store.AttrPK || schema[types.KeyTypeRange] != store.AttrSK {
			t.Errorf("%s: key schema %v", tt.name, schema)
		}
		ttl, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tt.name)})
		if err != nil {
			t.Fatal(err)
		}
		if d := ttl.TimeToLiveDescription; aws.ToString(d.AttributeName) != store.AttrTTL || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
			t.Errorf("%s: TTL %s on %q", tt.name, d.TimeToLiveStatus, aws.ToString(d.AttributeName))
		}
	}
}
