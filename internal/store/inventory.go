package store

// The operator's DID inventory (issue #17). Every number a tenant may route
// comes from it: each number is its global owner item DID#<n> OWNER, free
// (no Tenant attribute) or assigned to one tenant (Tenant). The operator adds
// numbers (ranges or lists, `bulkprov did add`), assigns them to a tenant,
// and decides per tenant, in an item only the operator writes (TENANT#<t>
// DIDPOLICY), whether uploads with create-dids may take free numbers and
// which other numbers the tenant may show as caller ID. A tenant's settings
// and upload options cannot change either.
//
// Taking a free number is a condition of the row's own transaction
// (itemBuilder.didRoute): the number must be in the inventory and free,
// or already the tenant's, when the row commits.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Attributes of inventory and policy items.
const (
	attrInventory = "Inventory" // "true" on a number the operator added
	attrClaimFree = "ClaimFree"
	attrCallerIDs = "CallerIDs"
)

// MaxDIDRange bounds one range given to the inventory commands.
const MaxDIDRange = 10_000

var e164RE = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// ValidE164 reports whether n is an E.164 number (+, 7-15 digits).
func ValidE164(n string) bool { return e164RE.MatchString(n) }

// ExpandDIDRange returns the numbers first..last (E.164, same length),
// at most MaxDIDRange of them.
func ExpandDIDRange(first, last string) ([]string, error) {
	if !ValidE164(first) || !ValidE164(last) {
		return nil, pbx.Errorf(pbx.EINVALID, "range", "a range is two E.164 numbers such as +14155550100-+14155550199, not %q-%q", first, last)
	}
	if len(first) != len(last) || last < first {
		return nil, pbx.Errorf(pbx.EINVALID, "range", "%s-%s is not a range: both ends need the same number of digits, the first not above the last", first, last)
	}
	// E.164 has at most 15 digits: they fit in an int64.
	var lo, hi int64
	if _, err := fmt.Sscan(first[1:], &lo); err != nil {
		return nil, pbx.Errorf(pbx.EINVALID, "range", "%s is not a number", first)
	}
	if _, err := fmt.Sscan(last[1:], &hi); err != nil {
		return nil, pbx.Errorf(pbx.EINVALID, "range", "%s is not a number", last)
	}
	if hi-lo+1 > MaxDIDRange {
		return nil, pbx.Errorf(pbx.ELIMIT, "range", "%s-%s holds %d numbers; give at most %d per range", first, last, hi-lo+1, MaxDIDRange)
	}
	out := make([]string, 0, hi-lo+1)
	for n := lo; n <= hi; n++ {
		out = append(out, fmt.Sprintf("+%0*d", len(first)-1, n))
	}
	return out, nil
}

// DIDPolicy is what the operator allows one tenant beyond its own numbers.
type DIDPolicy struct {
	// ClaimFree lets uploads with create-dids take free inventory numbers.
	ClaimFree bool `json:"claim_free"`
	// CallerIDs are numbers, not the tenant's DIDs, it may show as caller ID
	// (e.g. a main number hosted elsewhere).
	CallerIDs []string `json:"caller_ids"`
}

// InventoryDID is one inventory number as `bulkprov did list` shows it.
type InventoryDID struct {
	Number string `json:"number"`
	Tenant string `json:"tenant,omitempty"` // "" when free
}

// SetDIDPolicy stores the operator's DID policy for tenant.
func (s *Store) SetDIDPolicy(ctx context.Context, tenant string, p DIDPolicy) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	for _, n := range p.CallerIDs {
		if !ValidE164(n) || pbx.IsEmergencyNumber(n) {
			return pbx.Errorf(pbx.EINVALID, "caller_id", "%q is not an E.164 number a tenant may show as caller ID", n)
		}
	}
	item := map[string]types.AttributeValue{
		AttrPK:        &types.AttributeValueMemberS{Value: TenantPK(tenant)},
		AttrSK:        &types.AttributeValueMemberS{Value: SKDIDPolicy},
		"Type":        &types.AttributeValueMemberS{Value: "DID_POLICY"},
		attrClaimFree: &types.AttributeValueMemberBOOL{Value: p.ClaimFree},
	}
	if len(p.CallerIDs) > 0 {
		ids := slices.Clone(p.CallerIDs)
		slices.Sort(ids)
		item[attrCallerIDs] = &types.AttributeValueMemberSS{Value: slices.Compact(ids)}
	}
	if _, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: item}); err != nil {
		return fmt.Errorf("put DID policy of %s: %w", tenant, err)
	}
	return nil
}

// GetDIDPolicy returns tenant's DID policy (the zero policy when none is set).
func (s *Store) GetDIDPolicy(ctx context.Context, tenant string) (DIDPolicy, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return DIDPolicy{}, err
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: itemKey(TenantPK(tenant), SKDIDPolicy), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return DIDPolicy{}, fmt.Errorf("get DID policy of %s: %w", tenant, err)
	}
	return policyOf(out.Item), nil
}

func policyOf(item map[string]types.AttributeValue) DIDPolicy {
	var p DIDPolicy
	if b, ok := item[attrClaimFree].(*types.AttributeValueMemberBOOL); ok {
		p.ClaimFree = b.Value
	}
	if ss, ok := item[attrCallerIDs].(*types.AttributeValueMemberSS); ok {
		p.CallerIDs = ss.Value
	}
	return p
}

// AddDIDs adds numbers to the inventory, free (tenant "") or assigned to
// tenant. A number already in the inventory (or already someone's) is left
// as it is and returned in present.
func (s *Store) AddDIDs(ctx context.Context, numbers []string, tenant string) (added, present []string, err error) {
	if tenant != "" {
		if err := pbx.ValidateTenantName(tenant); err != nil {
			return nil, nil, err
		}
	}
	numbers, err = uniqueNumbers(numbers)
	if err != nil {
		return nil, nil, err
	}
	for start := 0; start < len(numbers); start += MaxTransactionItems {
		chunk := numbers[start:min(start+MaxTransactionItems, len(numbers))]
		for len(chunk) > 0 {
			items := make([]types.TransactWriteItem, len(chunk))
			for i, n := range chunk {
				item := attrs("Type", "DID_OWNER", "Number", n, attrInventory, "true", attrOwnerTenant, tenant)
				item[AttrPK] = &types.AttributeValueMemberS{Value: DIDOwnerPK(n)}
				item[AttrSK] = &types.AttributeValueMemberS{Value: SKOwner}
				items[i] = types.TransactWriteItem{Put: &types.Put{
					TableName: aws.String(s.Table), Item: item,
					ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
				}}
			}
			_, err := s.DB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
			var cancelled *types.TransactionCanceledException
			if errors.As(err, &cancelled) && len(cancelled.CancellationReasons) == len(chunk) {
				// Drop the numbers that exist and write the rest again.
				var rest []string
				for i, r := range cancelled.CancellationReasons {
					if aws.ToString(r.Code) == "ConditionalCheckFailed" {
						present = append(present, chunk[i])
					} else {
						rest = append(rest, chunk[i])
					}
				}
				if len(rest) == len(chunk) {
					return added, present, fmt.Errorf("add DIDs: %w", err)
				}
				chunk = rest
				continue
			}
			if err != nil {
				return added, present, fmt.Errorf("add DIDs: %w", err)
			}
			added = append(added, chunk...)
			chunk = nil
		}
	}
	return added, present, nil
}

// AssignDIDs assigns inventory numbers to tenant. Numbers not in the
// inventory, or another tenant's, are returned in refused.
func (s *Store) AssignDIDs(ctx context.Context, tenant string, numbers []string) (assigned, refused []string, err error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, nil, err
	}
	numbers, err = uniqueNumbers(numbers)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range numbers {
		_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table), Key: itemKey(DIDOwnerPK(n), SKOwner),
			UpdateExpression:          aws.String("SET #tenant = :tenant"),
			ConditionExpression:       aws.String("attribute_exists(#pk) AND (attribute_not_exists(#tenant) OR #tenant = :tenant)"),
			ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#tenant": attrOwnerTenant},
			ExpressionAttributeValues: map[string]types.AttributeValue{":tenant": &types.AttributeValueMemberS{Value: tenant}},
		})
		var failed *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &failed):
			refused = append(refused, n)
		case err != nil:
			return assigned, refused, fmt.Errorf("assign DID %s to %s: %w", n, tenant, err)
		default:
			assigned = append(assigned, n)
		}
	}
	return assigned, refused, nil
}

// ReleaseDIDs returns assigned numbers to the free inventory. A number
// still routed to an extension is refused (free it on the PBX first), as
// is one that is not in the inventory.
func (s *Store) ReleaseDIDs(ctx context.Context, numbers []string) (released, refused []string, err error) {
	numbers, err = uniqueNumbers(numbers)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range numbers {
		out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.Table), Key: itemKey(DIDOwnerPK(n), SKOwner), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return released, refused, fmt.Errorf("read DID %s: %w", n, err)
		}
		tenant := stringAttr(out.Item, attrOwnerTenant)
		if out.Item == nil || tenant == "" {
			if out.Item == nil {
				refused = append(refused, n)
			} else {
				released = append(released, n) // free already
			}
			continue
		}
		// A number still routed to one of the tenant's extensions stays.
		_, err = s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.Table), Key: itemKey(DIDOwnerPK(n), SKOwner),
			UpdateExpression:         aws.String("SET #inv = :true REMOVE #tenant"),
			ConditionExpression:      aws.String("#tenant = :tenant AND attribute_not_exists(#ext)"),
			ExpressionAttributeNames: map[string]string{"#tenant": attrOwnerTenant, "#inv": attrInventory, "#ext": attrRouteExtension},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":tenant": &types.AttributeValueMemberS{Value: tenant}, ":true": &types.AttributeValueMemberS{Value: "true"}},
		})
		var cancelled *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &cancelled):
			refused = append(refused, n)
		case err != nil:
			return released, refused, fmt.Errorf("release DID %s: %w", n, err)
		default:
			released = append(released, n)
		}
	}
	return released, refused, nil
}

// ListDIDs lists the inventory (and numbers claimed before it existed),
// sorted; tenant "" lists every number, "-" only free ones. It scans the
// table: an operator command, not a request path.
func (s *Store) ListDIDs(ctx context.Context, tenant string) ([]InventoryDID, error) {
	var out []InventoryDID
	p := dynamodb.NewScanPaginator(s.DB, &dynamodb.ScanInput{
		TableName:                 aws.String(s.Table),
		FilterExpression:          aws.String("begins_with(#pk, :did) AND #sk = :owner"),
		ProjectionExpression:      aws.String("#pk, #tenant"),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK, "#tenant": attrOwnerTenant},
		ExpressionAttributeValues: map[string]types.AttributeValue{":did": &types.AttributeValueMemberS{Value: didOwnerPrefix}, ":owner": &types.AttributeValueMemberS{Value: SKOwner}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list DIDs: %w", err)
		}
		for _, it := range page.Items {
			d := InventoryDID{Number: strings.TrimPrefix(stringAttr(it, AttrPK), didOwnerPrefix), Tenant: stringAttr(it, attrOwnerTenant)}
			if tenant == "" || tenant == "-" && d.Tenant == "" || tenant == d.Tenant {
				out = append(out, d)
			}
		}
	}
	slices.SortFunc(out, func(a, b InventoryDID) int {
		return strings.Compare(fmt.Sprintf("%16s", a.Number), fmt.Sprintf("%16s", b.Number))
	})
	return out, nil
}

func uniqueNumbers(numbers []string) ([]string, error) {
	out := slices.Clone(numbers)
	for _, n := range out {
		if !ValidE164(n) {
			return nil, pbx.Errorf(pbx.EINVALID, "did", "%q is not an E.164 number such as +14155550100", n)
		}
		if pbx.IsEmergencyNumber(n) {
			return nil, pbx.Errorf(pbx.EINVALID, "did", "%s is an emergency or service number", n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// didUnavailable is the one answer for a DID the tenant may not use,
// whatever the reason (another tenant's, not in the inventory, free but not
// allowed), so that nothing about other tenants can be learnt from it.
func didUnavailable(did string) error {
	return pbx.Errorf(pbx.CodeDIDUnavailable, "did", "DID %s is not available to this tenant; use one of its own numbers or ask the operator to assign it", did)
}
