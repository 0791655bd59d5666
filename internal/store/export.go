package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// TenantItems returns the items that belong to tenant, raw, in no
// particular order: its partition (users, secrets, jobs, settings), read
// with paged Queries, and the global items its users name — the owner
// items of their DIDs (with the inbound routes) and MACs, and their invite
// items —
// read by key (BatchGetItem, 100 keys a call, 4 at a time). No Scan: the
// cost grows with the tenant's data, not with the table's.
func (s *Store) TenantItems(ctx context.Context, tenant string) ([]map[string]types.AttributeValue, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return nil, err
	}
	var items []map[string]types.AttributeValue
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	global := func(pk, sk string) {
		if !seen[pk] {
			seen[pk] = true
			keys = append(keys, itemKey(pk, sk))
		}
	}
	err := s.queryPrefix(ctx, TenantPK(tenant), "", "", func(it map[string]types.AttributeValue) {
		items = append(items, it)
		switch sk := stringAttr(it, AttrSK); {
		case len(sk) > len(extPrefix) && sk[:len(extPrefix)] == extPrefix:
			if did := stringAttr(mapAttr(it, objEndpoint), "DID"); did != "" {
				global(DIDOwnerPK(did), SKOwner)
			}
			if mac := stringAttr(mapAttr(it, objEndpoint), "MAC"); mac != "" {
				global(MACOwnerPK(mac), SKOwner)
			}
			if h := stringAttr(mapAttr(it, objUser), "InviteHash"); h != "" {
				global(InvitePK(h), SKInvite)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read items of tenant %s: %w", tenant, err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		slots    = make(chan struct{}, 4)
	)
	for start := 0; start < len(keys); start += batchGetMax {
		chunk := keys[start:min(start+batchGetMax, len(keys))]
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			got, err := s.batchGet(ctx, chunk)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for _, it := range got {
				// An owner item of another tenant (a DID the tenant once
				// named) is not the tenant's.
				if t := stringAttr(it, "Tenant"); t == "" || t == tenant {
					items = append(items, it)
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, fmt.Errorf("read global items of tenant %s: %w", tenant, firstErr)
	}
	return items, nil
}
