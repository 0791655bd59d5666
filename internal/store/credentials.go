package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
)

// The SECRET# item (PK TENANT#t, SK SECRET#<sip user>) holds one endpoint's
// pbx.Credentials. Item layout (credentialsAttrs): SIPUser, Extension,
// PortalKind, InviteExpires, Key (the KMS-encrypted data key, once), and
// SIPSecret, PIN, Portal as maps {n: nonce, d: ciphertext} that carry
// their own k only when sealed under another data key. The values of one
// row share one data key (one Sealer per batch), and a real KMS blob is
// ~184 bytes: storing it once keeps the item, email ledger included, well
// under the 1 KB that a write unit covers. Items with k in every value
// (written before) decode the same.

// Attribute names of a credentials item.
const (
	attrPortal        = "Portal"
	attrInviteExpires = "InviteExpires"
	attrSharedKey     = "Key"
	batchGetMax       = 100 // BatchGetItem's limit
	batchGetTries     = 8
	batchGetPause     = 50 * time.Millisecond
	batchGetMaxGap    = 2 * time.Second
)

// credentialsAttrs encodes c as the SECRET item's attributes (without its
// key).
func credentialsAttrs(c pbx.Credentials) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{
		"SIPUser":    &types.AttributeValueMemberS{Value: c.SIPUser},
		"Extension":  &types.AttributeValueMemberS{Value: c.Extension},
		"PortalKind": &types.AttributeValueMemberS{Value: string(c.PortalKind)},
	}
	shared := c.SIPSecret.Key
	if len(shared) > 0 {
		m[attrSharedKey] = &types.AttributeValueMemberB{Value: shared}
	}
	for name, v := range map[string]*secrets.Sealed{"SIPSecret": &c.SIPSecret, "PIN": &c.PIN, attrPortal: c.Portal} {
		if v == nil || v.IsZero() {
			continue
		}
		sv := map[string]types.AttributeValue{
			"n": &types.AttributeValueMemberB{Value: v.Nonce},
			"d": &types.AttributeValueMemberB{Value: v.Data},
		}
		if !bytes.Equal(v.Key, shared) {
			sv["k"] = &types.AttributeValueMemberB{Value: v.Key}
		}
		m[name] = &types.AttributeValueMemberM{Value: sv}
	}
	if c.InviteExpires != 0 {
		m[attrInviteExpires] = &types.AttributeValueMemberN{Value: strconv.FormatInt(c.InviteExpires, 10)}
	}
	return m
}

// credentialsFromAttrs decodes a SECRET item's attributes, in the
// shared-key layout or with a key in every value.
func credentialsFromAttrs(item map[string]types.AttributeValue) (pbx.Credentials, error) {
	c := pbx.Credentials{
		SIPUser:    stringAttr(item, "SIPUser"),
		Extension:  stringAttr(item, "Extension"),
		PortalKind: pbx.WelcomeMode(stringAttr(item, "PortalKind")),
	}
	var shared []byte
	if b, ok := item[attrSharedKey].(*types.AttributeValueMemberB); ok {
		shared = b.Value
	}
	sealed := func(name string) (secrets.Sealed, error) {
		av, ok := item[name]
		if !ok {
			return secrets.Sealed{}, nil
		}
		sv, ok := av.(*types.AttributeValueMemberM)
		if !ok {
			return secrets.Sealed{}, fmt.Errorf("credentials: %s is a %T, not a map", name, av)
		}
		field := func(f string) []byte {
			if b, ok := sv.Value[f].(*types.AttributeValueMemberB); ok {
				return b.Value
			}
			return nil
		}
		v := secrets.Sealed{Key: field("k"), Nonce: field("n"), Data: field("d")}
		if v.Key == nil {
			v.Key = shared
		}
		return v, nil
	}
	var err error
	if c.SIPSecret, err = sealed("SIPSecret"); err != nil {
		return pbx.Credentials{}, err
	}
	if c.PIN, err = sealed("PIN"); err != nil {
		return pbx.Credentials{}, err
	}
	portal, err := sealed(attrPortal)
	if err != nil {
		return pbx.Credentials{}, err
	}
	if !portal.IsZero() {
		c.Portal = &portal
	}
	if n := numberAttr(item, attrInviteExpires); n != "" {
		if c.InviteExpires, err = strconv.ParseInt(n, 10, 64); err != nil {
			return pbx.Credentials{}, fmt.Errorf("credentials: InviteExpires %q: %w", n, err)
		}
	}
	return c, nil
}

// credentialsItem is the SECRET# item for c.
func credentialsItem(tenant string, c pbx.Credentials) map[string]types.AttributeValue {
	item := credentialsAttrs(c)
	item[AttrPK] = &types.AttributeValueMemberS{Value: TenantPK(tenant)}
	item[AttrSK] = &types.AttributeValueMemberS{Value: SecretSK(c.SIPUser)}
	return item
}

// credentialsFromItem decodes a SECRET# item.
func credentialsFromItem(item map[string]types.AttributeValue) (pbx.Credentials, error) {
	c, err := credentialsFromAttrs(item)
	if err != nil {
		return pbx.Credentials{}, fmt.Errorf("unmarshal credentials item %s: %w", stringAttr(item, AttrSK), err)
	}
	return c, nil
}

// GetCredentials returns the credentials of the given endpoints, keyed by
// SIP user; endpoints without credentials are absent from the map. It reads
// consistently with BatchGetItem in chunks of 100 and retries unprocessed
// keys with backoff.
func (s *Store) GetCredentials(ctx context.Context, tenant string, sipUsers []string) (map[string]pbx.Credentials, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(sipUsers))
	keys := make([]map[string]types.AttributeValue, 0, len(sipUsers))
	for _, u := range sipUsers {
		if u == "" || seen[u] { // BatchGetItem rejects duplicate keys
			continue
		}
		seen[u] = true
		keys = append(keys, itemKey(TenantPK(tenant), SecretSK(u)))
	}
	out := make(map[string]pbx.Credentials, len(keys))
	for start := 0; start < len(keys); start += batchGetMax {
		chunk := keys[start:min(start+batchGetMax, len(keys))]
		items, err := s.batchGet(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("get credentials of tenant %s: %w", tenant, err)
		}
		for _, item := range items {
			c, err := credentialsFromItem(item)
			if err != nil {
				return nil, err
			}
			out[c.SIPUser] = c
		}
	}
	return out, nil
}

// batchGet reads up to 100 keys consistently, retrying unprocessed keys.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, attrs ...string) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	pause := batchGetPause
	for try := 1; len(keys) > 0; try++ {
		ka := types.KeysAndAttributes{Keys: keys, ConsistentRead: aws.Bool(true)}
		if len(attrs) > 0 {
			ka.ExpressionAttributeNames = map[string]string{}
			var proj []string
			for i, a := range attrs {
				name := "#a" + strconv.Itoa(i)
				ka.ExpressionAttributeNames[name] = a
				proj = append(proj, name)
			}
			ka.ProjectionExpression = aws.String(strings.Join(proj, ", "))
		}
		res, err := s.DB.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{s.Table: ka}})
		if err != nil {
			return nil, fmt.Errorf("batch get: %w", err)
		}
		items = append(items, res.Responses[s.Table]...)
		keys = res.UnprocessedKeys[s.Table].Keys
		if len(keys) == 0 {
			break
		}
		if try == batchGetTries {
			return nil, fmt.Errorf("batch get: %d keys still unprocessed after %d attempts", len(keys), try)
		}
		if err := sleepCtx(ctx, pause); err != nil {
			return nil, err
		}
		pause = min(2*pause, batchGetMaxGap)
	}
	return items, nil
}

// DropPortalCredential removes the sealed portal credential (invite token
// or temporary password) of an endpoint once its welcome email is SENT. The
// hash stays on the USER item. Dropping twice is fine; a missing
// credentials item is ENOTFOUND.
func (s *Store) DropPortalCredential(ctx context.Context, tenant, sipUser string) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	_, err := s.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.Table),
		Key:                      itemKey(TenantPK(tenant), SecretSK(sipUser)),
		UpdateExpression:         aws.String("REMOVE #portal"),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#portal": attrPortal, "#pk": AttrPK},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return pbx.Errorf(pbx.ENOTFOUND, "sip_user", "endpoint %q has no credentials", sipUser)
	case err != nil:
		return fmt.Errorf("drop portal credential of %s/%s: %w", tenant, sipUser, err)
	}
	return nil
}

// Invite is a one-time portal invite: item PK INVITE#<hash>, SK INVITE,
// global so that the portal resolves /invite/<token> without knowing the
// tenant, and expiring through the table's TTL.
type Invite struct {
	Hash    string // secrets.InviteHash(token): 64 hex digits
	User    string // portal user name
	SIPUser string
	Job     string
	Expires time.Time
}

// batchWriteMax is BatchWriteItem's limit.
const batchWriteMax = 25

// PutInvites writes invite items, 25 per BatchWriteItem (1 WCU each, not
// transactional), retrying unprocessed items with backoff. The welcome
// email writes them before it reserves and sends: an invite needs no
// condition (the hash is of a 256-bit random token, and writing it again
// writes the same item) and no atomicity with the row (its records exist
// already; an invite whose email never goes out expires unused).
func (s *Store) PutInvites(ctx context.Context, tenant string, invites []Invite) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	seen := make(map[string]bool, len(invites))
	var reqs []types.WriteRequest
	for _, in := range invites {
		if len(in.Hash) != 64 || in.User == "" || in.SIPUser == "" || in.Expires.IsZero() {
			return pbx.Errorf(pbx.EINVALID, "invite", "invite of %q is incomplete", in.User)
		}
		if seen[in.Hash] { // BatchWriteItem rejects a key twice
			continue
		}
		seen[in.Hash] = true
		item := attrs("Type", "INVITE", "Tenant", tenant, "User", in.User, "SIPUser", in.SIPUser, "Job", in.Job)
		item[AttrPK] = &types.AttributeValueMemberS{Value: InvitePK(in.Hash)}
		item[AttrSK] = &types.AttributeValueMemberS{Value: SKInvite}
		item[AttrTTL] = &types.AttributeValueMemberN{Value: strconv.FormatInt(in.Expires.Unix(), 10)}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	for start := 0; start < len(reqs); start += batchWriteMax {
		if err := s.batchWrite(ctx, reqs[start:min(start+batchWriteMax, len(reqs))]); err != nil {
			return fmt.Errorf("put invites of tenant %s: %w", tenant, err)
		}
	}
	return nil
}

// batchWrite writes up to 25 requests, retrying unprocessed ones.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	pause := batchGetPause
	for try := 1; len(reqs) > 0; try++ {
		res, err := s.DB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
			RequestItems:           map[string][]types.WriteRequest{s.Table: reqs},
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return fmt.Errorf("batch write: %w", err)
		}
		reqs = res.UnprocessedItems[s.Table]
		if len(reqs) == 0 {
			return nil
		}
		if try == batchGetTries {
			return fmt.Errorf("batch write: %d items still unprocessed after %d attempts", len(reqs), try)
		}
		if err := sleepCtx(ctx, pause); err != nil {
			return err
		}
		pause = min(2*pause, batchGetMaxGap)
	}
	return nil
}

// PutCredentials writes (or replaces) one endpoint's SECRET# item on its
// own, outside a row's transaction: for tools and tests that seed a table.
// The pipeline writes credentials only with the row, in WriteRows.
func (s *Store) PutCredentials(ctx context.Context, tenant string, c pbx.Credentials) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	if c.SIPUser == "" {
		return pbx.Errorf(pbx.EINVALID, "sip_user", "credentials name no endpoint")
	}
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table), Item: credentialsItem(tenant, c)})
	if err != nil {
		return fmt.Errorf("put credentials of %s/%s: %w", tenant, c.SIPUser, err)
	}
	return nil
}
