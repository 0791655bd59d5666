package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestTenantBoundary (issue #17) runs as tenant beta against the data of
// tenant acme, on DynamoDB Local.
func TestTenantBoundary(t *testing.T) {
	f := newBoundaryFixture(t)
	t.Run("provisioning path is unique across tenants", func(t *testing.T) { testProvisioningPathUnique(t, f) })
	t.Run("beta cannot claim a number outside the inventory nor acme's", func(t *testing.T) { testDIDClaimsStayInside(t, f) })
	t.Run("validation lookups answer acme's and never-used DIDs alike", func(t *testing.T) { testLookupsAreNoOracle(t, f) })
	t.Run("assign and release", func(t *testing.T) { testAssignAndRelease(t, f) })
}

// boundaryFixture is what TestTenantBoundary's subtests share.
type boundaryFixture struct {
	ctx      context.Context
	st       *store.Store
	box      *secrets.Box
	acmeDIDs []string
	free     []string
	settings pbx.Settings
	row      func(t *testing.T, tenant string, line int, ext, did, callerID string) store.RowWrite
}

func newBoundaryFixture(t *testing.T) *boundaryFixture {
	t.Helper()
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)
	box := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	for _, name := range []string{"acme", "beta"} {
		if err := st.PutTenant(ctx, pbx.Tenant{Name: name, DisplayName: name}, pbx.LocalTenantOverrides(name)); err != nil {
			t.Fatal(err)
		}
	}

	// The inventory: acme's range, a free range beta may take from, and
	// numbers nobody added.
	acmeDIDs, _ := store.ExpandDIDRange("+14155550100", "+14155550109")
	free, _ := store.ExpandDIDRange("+14155550200", "+14155550209")
	if _, _, err := st.AddDIDs(ctx, acmeDIDs, "acme"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AddDIDs(ctx, free, ""); err != nil {
		t.Fatal(err)
	}
	settings, err := st.LoadSettings(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	row := func(t *testing.T, tenant string, line int, ext, did, callerID string) store.RowWrite {
		t.Helper()
		sealer, err := box.Sealer(ctx, tenant)
		if err != nil {
			t.Fatal(err)
		}
		o, err := pbx.Build(tenant, settings, pbx.UserRow{Line: line, Extension: ext, DID: did, CallerID: callerID})
		if err != nil {
			t.Fatal(err)
		}
		sip := o.Endpoint.SIPUser
		c := pbx.Credentials{SIPUser: sip, Extension: ext, PortalKind: pbx.WelcomeInvite}
		c.SIPSecret, _ = sealer.Seal([]byte("s"), pbx.SIPSecretBinding(sip))
		c.PIN, _ = sealer.Seal([]byte("p"), pbx.PINBinding(sip))
		return store.RowWrite{Line: line, Objects: o, Credentials: c, CreateDIDs: true}
	}

	return &boundaryFixture{ctx: ctx, st: st, box: box, acmeDIDs: acmeDIDs, free: free, settings: settings, row: row}
}

// testProvisioningPathUnique: provisioning path is unique across tenants.
func testProvisioningPathUnique(t *testing.T, f *boundaryFixture) {
	ctx, st := f.ctx, f.st
	path := func(p string) []byte { return []byte(`{"provisioning":{"path":"` + p + `"}}`) }
	// beta may not take acme's folder (acme's name, its default).
	if err := st.PutTenant(ctx, pbx.Tenant{Name: "beta", DisplayName: "beta"}, path("acme")); pbx.ErrorCode(err) != pbx.ECONFLICT {
		t.Fatalf("beta taking acme's folder: %v", err)
	}
	if err := st.PutTenant(ctx, pbx.Tenant{Name: "beta", DisplayName: "beta"}, path("phones-1")); err != nil {
		t.Fatal(err)
	}
	// acme may not take beta's folder.
	if err := st.PutTenant(ctx, pbx.Tenant{Name: "acme", DisplayName: "acme"}, path("phones-1")); pbx.ErrorCode(err) != pbx.ECONFLICT {
		t.Errorf("acme taking beta's folder: %v", err)
	}
	// A path that is not one safe segment never reaches the table.
	for _, p := range []string{"../beta", "acme/../beta", "Acme"} {
		if err := st.PutTenant(ctx, pbx.Tenant{Name: "beta", DisplayName: "beta"}, path(p)); pbx.ErrorCode(err) != pbx.EINVALID {
			t.Errorf("path %q: %v", p, err)
		}
	}
	// beta moves away: its old folder is free again, acme takes it.
	if err := st.PutTenant(ctx, pbx.Tenant{Name: "beta", DisplayName: "beta"}, pbx.LocalTenantOverrides("beta")); err != nil {
		t.Fatal(err)
	}
	if err := st.PutTenant(ctx, pbx.Tenant{Name: "acme", DisplayName: "acme"}, path("phones-1")); err != nil {
		t.Errorf("acme taking the released folder: %v", err)
	}
	if err := st.PutTenant(ctx, pbx.Tenant{Name: "acme", DisplayName: "acme"}, pbx.LocalTenantOverrides("acme")); err != nil {
		t.Fatal(err)
	}
}

// testDIDClaimsStayInside: beta cannot claim a number outside the inventory nor acme's.
func testDIDClaimsStayInside(t *testing.T, f *boundaryFixture) {
	ctx, st, acmeDIDs, free, row := f.ctx, f.st, f.acmeDIDs, f.free, f.row
	if err := st.SetDIDPolicy(ctx, "beta", store.DIDPolicy{ClaimFree: true}); err != nil {
		t.Fatal(err)
	}
	rows := []store.RowWrite{
		row(t, "beta", 2, "200", "+12024561111", ""), // never added to the inventory
		row(t, "beta", 3, "201", acmeDIDs[0], ""),    // acme's
		row(t, "beta", 4, "202", free[0], ""),        // free
	}
	out, _, err := st.WriteRows(ctx, "beta", rows, store.WriteOptions{Job: "j1"})
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range out[:2] {
		if pbx.ErrorCode(o.Err) != pbx.CodeDIDUnavailable {
			t.Errorf("line %d: %v, want %s", o.Line, o.Err, pbx.CodeDIDUnavailable)
		}
		// One answer: the messages differ only in the number.
		msg := strings.ReplaceAll(pbx.ErrorMessage(o.Err), rows[i].Objects.DID.Number, "N")
		if other := strings.ReplaceAll(pbx.ErrorMessage(out[0].Err), rows[0].Objects.DID.Number, "N"); msg != other {
			t.Errorf("answers differ: %q vs %q", msg, other)
		}
	}
	if out[2].Err != nil {
		t.Errorf("free number: %v", out[2].Err)
	}
	// acme's number is still acme's.
	list, err := st.ListDIDs(ctx, "acme")
	if err != nil || len(list) != len(acmeDIDs) {
		t.Fatalf("acme's DIDs: %v %v", list, err)
	}
	beta, _ := st.ListDIDs(ctx, "beta")
	if len(beta) != 1 || beta[0].Number != free[0] {
		t.Errorf("beta's DIDs: %v", beta)
	}
}

// testLookupsAreNoOracle: validation lookups answer acme's and never-used DIDs alike.
func testLookupsAreNoOracle(t *testing.T, f *boundaryFixture) {
	ctx, st, acmeDIDs, free := f.ctx, f.st, f.acmeDIDs, f.free
	if err := st.SetDIDPolicy(ctx, "beta", store.DIDPolicy{}); err != nil {
		t.Fatal(err)
	}
	td, err := st.LookupTenantData(ctx, "beta", nil, []string{acmeDIDs[1], "+12024561111", free[1]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(td.OwnedDIDs) != 0 || len(td.ClaimableDIDs) != 0 || td.ClaimFree {
		t.Errorf("beta without the operator's leave sees %+v", td)
	}
	if err := st.SetDIDPolicy(ctx, "beta", store.DIDPolicy{ClaimFree: true, CallerIDs: []string{"+18005550100"}}); err != nil {
		t.Fatal(err)
	}
	td, err = st.LookupTenantData(ctx, "beta", nil, []string{acmeDIDs[1], "+12024561111", free[1]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !td.ClaimableDIDs[free[1]] || len(td.ClaimableDIDs) != 1 || len(td.OwnedDIDs) != 0 || !td.AllowedCallerIDs["+18005550100"] {
		t.Errorf("beta allowed to take free numbers sees %+v", td)
	}
}

// testAssignAndRelease: assign and release.
func testAssignAndRelease(t *testing.T, f *boundaryFixture) {
	ctx, st, acmeDIDs, free := f.ctx, f.st, f.acmeDIDs, f.free
	assigned, refused, err := st.AssignDIDs(ctx, "beta", []string{free[2], acmeDIDs[2], "+12024561111"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(assigned, []string{free[2]}) || len(refused) != 2 {
		t.Errorf("assign: %v refused %v", assigned, refused)
	}
	// A routed number is not released; an unrouted one is.
	released, refused, err := st.ReleaseDIDs(ctx, []string{free[0], free[2]})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(released, []string{free[2]}) || !slices.Equal(refused, []string{free[0]}) {
		t.Errorf("release: %v refused %v", released, refused)
	}
	freeNow, _ := st.ListDIDs(ctx, "-")
	if !slices.ContainsFunc(freeNow, func(d store.InventoryDID) bool { return d.Number == free[2] }) {
		t.Errorf("released number not free: %v", freeNow)
	}
	if _, err := store.ExpandDIDRange("+14155550000", "+14155570000"); pbx.ErrorCode(err) != pbx.ELIMIT {
		t.Errorf("20001-number range: %v", err)
	}
	if _, _, err := st.AddDIDs(ctx, []string{"911"}, ""); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("adding 911: %v", err)
	}
}
