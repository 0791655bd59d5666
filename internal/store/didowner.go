package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DIDOwner returns the tenant owning a DID (its global DID#<number> OWNER
// item); ok is false when no tenant owns it. A carrier's INVITE names only
// the number, so the softswitch read path starts here. Read consistently:
// a number just moved or released is answered as it is now.
func (s *Store) DIDOwner(ctx context.Context, did string) (tenant string, ok bool, err error) {
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:                aws.String(s.Table),
		Key:                      itemKey(DIDOwnerPK(did), SKOwner),
		ConsistentRead:           aws.Bool(true),
		ProjectionExpression:     aws.String("#t"),
		ExpressionAttributeNames: map[string]string{"#t": attrOwnerTenant},
	})
	if err != nil {
		return "", false, fmt.Errorf("get owner of DID %s: %w", did, err)
	}
	tenant = stringAttr(out.Item, attrOwnerTenant)
	return tenant, tenant != "", nil
}
