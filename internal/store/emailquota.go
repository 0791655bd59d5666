package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A tenant's daily welcome-email quota is counted on one item per UTC day,
// PK TENANT#t, SK EMAILQUOTA#<yyyy-mm-dd>, attribute Sent (emails granted
// that day), removed by TTL two days later. Granting is a conditional ADD
// (Sent + n <= limit), so concurrent senders never exceed the limit
// together.
const (
	attrQuotaSent = "Sent"
	quotaTries    = 8
)

func (s *Store) quotaKey(tenant string, day time.Time) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: TenantPK(tenant)},
		AttrSK: &types.AttributeValueMemberS{Value: EmailQuotaSK(day)},
	}
}

// GrantDailyEmails grants up to want emails of the tenant's limit for the
// UTC day of now and returns how many: fewer (or 0) when the day's quota is
// nearly (or) used up.
func (s *Store) GrantDailyEmails(ctx context.Context, tenant string, now time.Time, want, limit int) (int, error) {
	if want <= 0 || limit <= 0 {
		return 0, nil
	}
	key := s.quotaKey(tenant, now)
	expires := now.UTC().Truncate(24 * time.Hour).Add(72 * time.Hour).Unix()
	for range quotaTries {
		got, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.Table), Key: key, ConsistentRead: aws.Bool(true),
			ProjectionExpression: aws.String(attrQuotaSent),
		})
		if err != nil {
			return 0, fmt.Errorf("read the daily email quota of %s: %w", tenant, err)
		}
		used := 0
		if v, ok := got.Item[attrQuotaSent].(*types.AttributeValueMemberN); ok {
			used, _ = strconv.Atoi(v.Value)
		}
		n := min(want, limit-used)
		if n <= 0 {
			return 0, nil
		}
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table), Key: key,
			UpdateExpression:    aws.String("ADD #sent :n SET #ttl = :ttl"),
			ConditionExpression: aws.String("attribute_not_exists(#sent) OR #sent <= :most"),
			ExpressionAttributeNames: map[string]string{
				"#sent": attrQuotaSent, "#ttl": AttrTTL,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":n":    &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
				":most": &types.AttributeValueMemberN{Value: strconv.Itoa(limit - n)},
				":ttl":  &types.AttributeValueMemberN{Value: strconv.FormatInt(expires, 10)},
			},
		})
		var failed *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return n, nil
		case errors.As(err, &failed):
			continue // another sender took some: read again
		default:
			return 0, fmt.Errorf("grant daily emails of %s: %w", tenant, err)
		}
	}
	return 0, fmt.Errorf("grant daily emails of %s: the quota item kept changing", tenant)
}

// ReturnDailyEmails gives back n granted emails that were not sent.
func (s *Store) ReturnDailyEmails(ctx context.Context, tenant string, granted time.Time, n int) error {
	if n <= 0 {
		return nil
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: s.quotaKey(tenant, granted),
		UpdateExpression:          aws.String("ADD #sent :n"),
		ConditionExpression:       aws.String("#sent >= :back"),
		ExpressionAttributeNames:  map[string]string{"#sent": attrQuotaSent},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: strconv.Itoa(-n)}, ":back": &types.AttributeValueMemberN{Value: strconv.Itoa(n)}},
	})
	if err != nil {
		return fmt.Errorf("return %d daily emails of %s: %w", n, tenant, err)
	}
	return nil
}

// DailyEmails returns how many emails the tenant was granted on now's UTC day.
func (s *Store) DailyEmails(ctx context.Context, tenant string, now time.Time) (int, error) {
	got, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: s.quotaKey(tenant, now), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, fmt.Errorf("read the daily email quota of %s: %w", tenant, err)
	}
	n := 0
	if v, ok := got.Item[attrQuotaSent].(*types.AttributeValueMemberN); ok {
		n, _ = strconv.Atoi(v.Value)
	}
	return n, nil
}
