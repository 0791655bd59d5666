package records_test

import (
	"context"
	"testing"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestTenantBoundaryAtWrite (issue #17): create-records applies the
// operator's DID rules itself, whatever the upload says: tenant beta's
// create-dids takes no free number the operator did not let it take, and a
// caller ID of acme's DID fails the row, while beta's own DID and a number
// the operator allowed pass.
func TestTenantBoundaryAtWrite(t *testing.T) {
	ctx := context.Background()
	acme := newEnv(t, "bndacme", "")
	beta := newEnv(t, "bndbeta", "")
	acmeDID, betaDID, free := "+14155551190", "+14155551191", "+14155551192"
	wantStatus(t, acme.run(t, acme.job(t, "job-acme", options(func(o *pbx.Options) { o.CreateDIDs = true })),
		pbx.UserRow{Line: 2, Extension: "100", DID: acmeDID}), events.StatusCreated)
	if _, _, err := beta.st.AssignDIDs(ctx, "bndbeta", []string{betaDID}); err != nil {
		t.Fatal(err)
	}
	// The operator has not let beta take free numbers: the upload option alone does not.
	if err := beta.st.SetDIDPolicy(ctx, "bndbeta", store.DIDPolicy{CallerIDs: []string{"+14155559999"}}); err != nil {
		t.Fatal(err)
	}
	res := beta.run(t, beta.job(t, "job-beta", options(func(o *pbx.Options) { o.CreateDIDs = true })),
		pbx.UserRow{Line: 2, Extension: "200", DID: free},
		pbx.UserRow{Line: 3, Extension: "201", CallerID: acmeDID},
		pbx.UserRow{Line: 4, Extension: "202", CallerID: "Sales <" + acmeDID + ">"},
		pbx.UserRow{Line: 5, Extension: "203", DID: betaDID, CallerID: betaDID},
		pbx.UserRow{Line: 6, Extension: "204", CallerID: betaDID},
		pbx.UserRow{Line: 7, Extension: "205", CallerID: "+14155559999"})
	wantStatus(t, res, events.StatusFailed, events.StatusFailed, events.StatusFailed, events.StatusCreated, events.StatusCreated, events.StatusCreated)
	wantFailed(t, res.Rows[0], pbx.CodeDIDUnavailable)
	wantFailed(t, res.Rows[1], pbx.CodeCallerIDNotAllowed)
	wantFailed(t, res.Rows[2], pbx.CodeCallerIDNotAllowed)
	if o := item(t, "DID#"+free, "OWNER"); o["Tenant"] != nil {
		t.Errorf("the free number was taken: %v", o)
	}
	if item(t, "TENANT#bndbeta", "USER#201") != nil {
		t.Error("a refused row left items behind")
	}
}
