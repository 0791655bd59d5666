package store_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/store"
)

func itoa(i int) string { return strconv.Itoa(i) }

// put stores a raw item with string attributes.
func put(t *testing.T, s *store.Store, pk, sk string, attrs map[string]string) {
	t.Helper()
	item := map[string]types.AttributeValue{
		store.AttrPK: &types.AttributeValueMemberS{Value: pk},
		store.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
	for k, v := range attrs {
		item[k] = &types.AttributeValueMemberS{Value: v}
	}
	if _, err := s.DB.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		t.Fatal(err)
	}
}
