package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
)

// Per-device provisioning credentials. Each phone authenticates with its
// own user (its MAC) and a password derived from a tenant key and the MAC
// (provision.DevicePassword), so a credential read off one phone opens only
// that phone's file. The table keeps:
//   - TENANT#<t> / PROVKEY: the tenant's device key, sealed (KMS envelope,
//     binding DeviceKeyBinding), created once;
//   - TENANT#<t> / DEVCRED#<mac>: the device's credential generation, only
//     once it has been rotated (absent = 0). Rotating bumps it, which
//     changes that device's password and no other.
const (
	attrDeviceKey     = "DeviceKey"
	attrGeneration    = "Generation"
	deviceKeyBinding  = "provisioning-device-key"
	maxDeviceRotation = 1 << 30
)

// DeviceKeyBinding is the binding of the sealed tenant device key.
func DeviceKeyBinding() string { return deviceKeyBinding }

var storeMACRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// DeviceKey returns the tenant's sealed device key; ENOTFOUND when the
// tenant has none yet.
func (s *Store) DeviceKey(ctx context.Context, tenant string) (secrets.Sealed, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return secrets.Sealed{}, err
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: itemKey(TenantPK(tenant), SKDeviceKey), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return secrets.Sealed{}, fmt.Errorf("get device key of %s: %w", tenant, err)
	}
	m, ok := out.Item[attrDeviceKey].(*types.AttributeValueMemberM)
	if !ok {
		return secrets.Sealed{}, pbx.Errorf(pbx.ENOTFOUND, "tenant", "tenant %q has no device key", tenant)
	}
	field := func(f string) []byte {
		if b, ok := m.Value[f].(*types.AttributeValueMemberB); ok {
			return b.Value
		}
		return nil
	}
	return secrets.Sealed{Key: field("k"), Nonce: field("n"), Data: field("d")}, nil
}

// PutDeviceKeyIfAbsent stores the tenant's sealed device key unless one
// exists; created is false when another writer was first (read it back).
func (s *Store) PutDeviceKeyIfAbsent(ctx context.Context, tenant string, key secrets.Sealed) (created bool, err error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return false, err
	}
	_, err = s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			AttrPK: &types.AttributeValueMemberS{Value: TenantPK(tenant)},
			AttrSK: &types.AttributeValueMemberS{Value: SKDeviceKey},
			attrDeviceKey: &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"k": &types.AttributeValueMemberB{Value: key.Key},
				"n": &types.AttributeValueMemberB{Value: key.Nonce},
				"d": &types.AttributeValueMemberB{Value: key.Data},
			}},
		},
		ConditionExpression: aws.String("attribute_not_exists(" + AttrPK + ")"),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("put device key of %s: %w", tenant, err)
	}
	return true, nil
}

// DeviceGeneration returns a device's credential generation (0 when never
// rotated). It reads one item whether or not the device exists, so the
// cost says nothing about the MAC.
func (s *Store) DeviceGeneration(ctx context.Context, tenant, mac string) (int, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return 0, err
	}
	if !storeMACRE.MatchString(mac) {
		return 0, pbx.Errorf(pbx.CodeInvalidMAC, "mac", "MAC must be 12 lowercase hex digits")
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: itemKey(TenantPK(tenant), DeviceCredSK(mac)),
		ProjectionExpression: aws.String(attrGeneration),
	})
	if err != nil {
		return 0, fmt.Errorf("get credential generation of %s/%s: %w", tenant, mac, err)
	}
	return deviceNumberAttr(out.Item, attrGeneration), nil
}

// RotateDeviceCredential bumps a device's credential generation and
// returns the new one: the device's old password stops working.
func (s *Store) RotateDeviceCredential(ctx context.Context, tenant, mac string) (int, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return 0, err
	}
	if !storeMACRE.MatchString(mac) {
		return 0, pbx.Errorf(pbx.CodeInvalidMAC, "mac", "MAC must be 12 lowercase hex digits")
	}
	out, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.Table),
		Key:                       itemKey(TenantPK(tenant), DeviceCredSK(mac)),
		UpdateExpression:          aws.String("ADD " + attrGeneration + " :one"),
		ConditionExpression:       aws.String("attribute_not_exists(" + attrGeneration + ") OR " + attrGeneration + " < :max"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}, ":max": &types.AttributeValueMemberN{Value: strconv.Itoa(maxDeviceRotation)}},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("rotate credential of %s/%s: %w", tenant, mac, err)
	}
	return deviceNumberAttr(out.Attributes, attrGeneration), nil
}

// DeviceGenerations returns every rotated device of the tenant with its
// generation (for the CloudFront KeyValueStore entries).
func (s *Store) DeviceGenerations(ctx context.Context, tenant string) (map[string]int, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	out := map[string]int{}
	p := dynamodb.NewQueryPaginator(s.DB, &dynamodb.QueryInput{
		TableName:              aws.String(s.Table),
		KeyConditionExpression: aws.String(AttrPK + " = :pk AND begins_with(" + AttrSK + ", :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: TenantPK(tenant)}, ":sk": &types.AttributeValueMemberS{Value: deviceCredPrefix},
		},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list device credentials of %s: %w", tenant, err)
		}
		for _, item := range page.Items {
			out[strings.TrimPrefix(stringAttr(item, AttrSK), deviceCredPrefix)] = deviceNumberAttr(item, attrGeneration)
		}
	}
	return out, nil
}

func deviceNumberAttr(item map[string]types.AttributeValue, name string) int {
	if n, ok := item[name].(*types.AttributeValueMemberN); ok {
		v, err := strconv.Atoi(n.Value)
		if err == nil {
			return v
		}
	}
	return 0
}
