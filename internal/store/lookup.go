package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TenantData is what is already stored about a batch of upload rows, as
// ingest needs it. The sets say nothing about which other tenant holds a
// DID or MAC, so that nothing about it can leak into a report.
type TenantData struct {
	// Extensions are the tenant's existing extensions among those asked,
	// each with the job that created it.
	Extensions   map[string]string
	OwnedDIDs    map[string]bool   // DIDs the tenant owns
	TakenDIDs    map[string]bool   // DIDs that are another tenant's
	MACEndpoints map[string]string // MAC → the tenant's endpoint that has it
	TakenMACs    map[string]bool   // MACs on another tenant's endpoint
	// ClaimableDIDs are free inventory numbers among those asked, listed
	// only when the operator lets the tenant take free numbers
	// (DIDPolicy.ClaimFree); otherwise they are like any unavailable DID.
	ClaimableDIDs map[string]bool
	// AllowedCallerIDs are the numbers outside its DIDs the operator lets
	// the tenant show as caller ID (read when DIDs are asked).
	AllowedCallerIDs map[string]bool
	// ClaimFree: the operator lets the tenant take free numbers (read when
	// DIDs are asked).
	ClaimFree bool
}

// Attributes of the global owner items.
const (
	attrOwnerTenant   = "Tenant"
	attrOwnerEndpoint = "Endpoint"
)

// LookupTenantData reads, in batches of 100 keys, the tenant's EXT# items
// and the global DID and MAC owner items for the given values.
// Unprocessed keys are retried with backoff.
func (s *Store) LookupTenantData(ctx context.Context, tenant string, exts, dids, macs []string) (TenantData, error) {
	td := TenantData{
		Extensions:   map[string]string{},
		OwnedDIDs:    map[string]bool{},
		TakenDIDs:    map[string]bool{},
		MACEndpoints: map[string]string{},
		TakenMACs:    map[string]bool{},

		ClaimableDIDs:    map[string]bool{},
		AllowedCallerIDs: map[string]bool{},
	}
	var policy DIDPolicy
	free := map[string]bool{}
	// Each key's meaning, by "PK\x00SK": how its item, if found, is read.
	apply := map[string]func(item map[string]types.AttributeValue){}
	var keys []map[string]types.AttributeValue
	add := func(pk, sk string, f func(map[string]types.AttributeValue)) {
		id := pk + "\x00" + sk
		if _, dup := apply[id]; dup { // BatchGetItem rejects duplicate keys
			return
		}
		apply[id] = f
		keys = append(keys, itemKey(pk, sk))
	}
	for _, e := range exts {
		add(TenantPK(tenant), ExtensionSK(e), func(item map[string]types.AttributeValue) {
			td.Extensions[e] = stringAttr(item, attrJob)
		})
	}
	if len(dids) > 0 {
		add(TenantPK(tenant), SKDIDPolicy, func(item map[string]types.AttributeValue) { policy = policyOf(item) })
	}
	for _, d := range dids {
		add(DIDOwnerPK(d), SKOwner, func(item map[string]types.AttributeValue) {
			switch stringAttr(item, attrOwnerTenant) {
			case tenant:
				td.OwnedDIDs[d] = true
			case "":
				free[d] = true // in the inventory, nobody's
			default:
				td.TakenDIDs[d] = true
			}
		})
	}
	for _, m := range macs {
		add(MACOwnerPK(m), SKOwner, func(item map[string]types.AttributeValue) {
			if stringAttr(item, attrOwnerTenant) == tenant {
				td.MACEndpoints[m] = stringAttr(item, attrOwnerEndpoint)
			} else {
				td.TakenMACs[m] = true
			}
		})
	}
	for start := 0; start < len(keys); start += batchGetMax {
		chunk := keys[start:min(start+batchGetMax, len(keys))]
		items, err := s.batchGet(ctx, chunk, AttrPK, AttrSK, attrOwnerTenant, attrOwnerEndpoint, attrClaimFree, attrCallerIDs, attrJob)
		if err != nil {
			return TenantData{}, fmt.Errorf("look up tenant %s data: %w", tenant, err)
		}
		for _, item := range items {
			if f := apply[stringAttr(item, AttrPK)+"\x00"+stringAttr(item, AttrSK)]; f != nil {
				f(item)
			}
		}
	}
	// The policy item may come back after the owner items: free numbers
	// are claimable only once it is known.
	for d := range free {
		if policy.ClaimFree {
			td.ClaimableDIDs[d] = true
		}
	}
	td.ClaimFree = policy.ClaimFree
	for _, n := range policy.CallerIDs {
		td.AllowedCallerIDs[n] = true
	}
	return td, nil
}
