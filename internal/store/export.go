package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// TenantItems returns the items that belong to tenant, raw, in no
// particular order: its partition (users, secrets, jobs, settings) and the
// global items its users name — the owner items of their DIDs (with the
// inbound routes) and MACs, and their invite items. No Scan, and nothing
// read one item at a time: the EXT# items come from a paged Query, the rest
// of the partition from two range Queries around the EXT# and SECRET#
// ranges (run alongside), and each user's SECRET# and global items by key
// (BatchGetItem, 100 keys a call, 8 calls at a time). The cost grows with
// the tenant's data, not with the table's.
func (s *Store) TenantItems(ctx context.Context, tenant string) ([]map[string]types.AttributeValue, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	pk := TenantPK(tenant)
	var (
		mu    sync.Mutex
		items []map[string]types.AttributeValue
		keys  []map[string]types.AttributeValue
		seen  = map[string]bool{}
	)
	keep := func(it map[string]types.AttributeValue) {
		mu.Lock()
		defer mu.Unlock()
		items = append(items, it)
	}
	byKey := func(pk, sk string) {
		if !seen[pk+"|"+sk] {
			seen[pk+"|"+sk] = true
			keys = append(keys, itemKey(pk, sk))
		}
	}
	var rest group
	// '$' follows '#': "EXT$" and "SECRET$" sort after every EXT#… and SECRET#… key.
	rest.do(func() error { return s.queryRange(ctx, pk, "#sk < :a", []string{extPrefix}, keep) })
	rest.do(func() error { return s.queryRange(ctx, pk, "#sk BETWEEN :a AND :b", []string{"EXT$", "SECRET#"}, keep) })
	rest.do(func() error { return s.queryRange(ctx, pk, "#sk >= :a", []string{"SECRET$"}, keep) })
	err := s.queryPrefix(ctx, pk, extPrefix, "", func(it map[string]types.AttributeValue) {
		keep(it)
		ext := strings.TrimPrefix(stringAttr(it, AttrSK), extPrefix)
		ep, user := mapAttr(it, objEndpoint), mapAttr(it, objUser)
		sip := stringAttr(ep, "SIPUser")
		if sip == "" {
			sip = pbx.SIPUserName(ext, tenant)
		}
		byKey(pk, SecretSK(sip))
		if did := stringAttr(ep, "DID"); did != "" {
			byKey(DIDOwnerPK(did), SKOwner)
		}
		if mac := stringAttr(ep, "MAC"); mac != "" {
			byKey(MACOwnerPK(mac), SKOwner)
		}
		if h := stringAttr(user, "InviteHash"); h != "" {
			byKey(InvitePK(h), SKInvite)
		}
	})
	if err := errors.Join(err, rest.wait()); err != nil {
		return nil, fmt.Errorf("read items of tenant %s: %w", tenant, err)
	}
	gets := group{slots: make(chan struct{}, 8)}
	for start := 0; start < len(keys); start += batchGetMax {
		chunk := keys[start:min(start+batchGetMax, len(keys))]
		gets.do(func() error {
			got, err := s.batchGet(ctx, chunk)
			if err != nil {
				return err
			}
			for _, it := range got {
				// An owner item of another tenant is not the tenant's.
				if t := stringAttr(it, attrOwnerTenant); stringAttr(it, AttrPK) == pk || t == "" || t == tenant {
					keep(it)
				}
			}
			return nil
		})
	}
	if err := gets.wait(); err != nil {
		return nil, fmt.Errorf("read items of tenant %s by key: %w", tenant, err)
	}
	return items, nil
}

// queryRange reads the items of partition pk whose sort key meets cond
// (over #sk, with the values as :a, :b), following every page.
func (s *Store) queryRange(ctx context.Context, pk, cond string, values []string, each func(map[string]types.AttributeValue)) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.Table),
		KeyConditionExpression:    aws.String("#pk = :pk AND " + cond),
		ExpressionAttributeNames:  map[string]string{"#pk": AttrPK, "#sk": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(queryPageItems),
	}
	for i, v := range values {
		in.ExpressionAttributeValues[":"+string(rune('a'+i))] = &types.AttributeValueMemberS{Value: v}
	}
	p := dynamodb.NewQueryPaginator(s.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("query %s %s: %w", pk, cond, err)
		}
		for _, it := range page.Items {
			each(it)
		}
	}
	return nil
}

// group runs functions in goroutines (at most cap(slots) at once when
// slots is set) and keeps the first error.
type group struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	err   error
	slots chan struct{}
}

func (g *group) do(f func() error) {
	if g.slots != nil {
		g.slots <- struct{}{}
	}
	g.wg.Go(func() {
		if g.slots != nil {
			defer func() { <-g.slots }()
		}
		if err := f(); err != nil {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.err == nil {
				g.err = err
			}
		}
	})
}

func (g *group) wait() error {
	g.wg.Wait()
	return g.err
}
