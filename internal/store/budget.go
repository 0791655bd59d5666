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

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Budget is a per-tenant allowance of requests (and rows) per fixed
// window, kept in the table so that every Lambda instance spends from the
// same one (issue #17: one tenant cannot use up what all tenants share).
type Budget struct {
	Name     string        // "api", "validate"
	Window   time.Duration // e.g. a minute or an hour
	Requests int64         // requests per window; 0 means no bound
	Rows     int64         // rows per window; 0 means no bound
}

// BudgetExceeded is returned by Spend when the tenant's budget for the
// window is spent; RetryAfter is when the next window starts.
type BudgetExceeded struct {
	Budget     Budget
	RetryAfter time.Duration
}

func (e *BudgetExceeded) Error() string {
	return fmt.Sprintf("the tenant's %s budget (%d requests, %d rows per %s) is spent; try again in %s",
		e.Budget.Name, e.Budget.Requests, e.Budget.Rows, e.Budget.Window, e.RetryAfter.Round(time.Second))
}

// Spend takes one request and rows from tenant's budget b for the window
// holding now, in one conditional update: nothing is taken when it would
// go over (a *BudgetExceeded error).
func (s *Store) Spend(ctx context.Context, tenant string, b Budget, now time.Time, rows int64) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	if b.Window <= 0 || b.Requests <= 0 && b.Rows <= 0 {
		return nil
	}
	start := now.Truncate(b.Window)
	end := start.Add(b.Window)
	exceeded := &BudgetExceeded{Budget: b, RetryAfter: end.Sub(now)}
	if b.Rows > 0 && rows > b.Rows {
		return exceeded
	}
	cond := "attribute_not_exists(#pk)"
	values := map[string]types.AttributeValue{
		":one":  &types.AttributeValueMemberN{Value: "1"},
		":rows": &types.AttributeValueMemberN{Value: strconv.FormatInt(rows, 10)},
		":ttl":  &types.AttributeValueMemberN{Value: strconv.FormatInt(end.Add(time.Hour).Unix(), 10)},
	}
	var limits []string
	if b.Requests > 0 {
		limits = append(limits, "#req < :maxreq")
		values[":maxreq"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(b.Requests, 10)}
	}
	if b.Rows > 0 {
		limits = append(limits, "#rows <= :rowsleft")
		values[":rowsleft"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(b.Rows-rows, 10)}
	}
	for i, l := range limits {
		if i == 0 {
			cond += " OR (" + l
		} else {
			cond += " AND " + l
		}
	}
	cond += ")"
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       itemKey(TenantPK(tenant), budgetSK(b.Name, start)),
		UpdateExpression:          aws.String("ADD #req :one, #rows :rows SET #ttl = :ttl"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#req": "Requests", "#rows": "Rows", "#ttl": AttrTTL},
		ExpressionAttributeValues: values,
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return exceeded
	}
	if err != nil {
		return fmt.Errorf("spend %s budget of %s: %w", b.Name, tenant, err)
	}
	return nil
}
