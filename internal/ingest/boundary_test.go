package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestValidationIsNoOracle (issue #17): tenant beta validating a file of
// acme's DIDs and MACs gets exactly the answers it gets for a file of
// numbers and MACs never used, with and without create-dids, and with
// beta allowed to take free numbers or not.
func TestValidationIsNoOracle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme, beta := newTenant(t, f.store, ""), newTenant(t, f.store, "")
	n := time.Now().UnixNano() % 1e4
	acmeDIDs := []string{fmt.Sprintf("+1628555%04d", n), fmt.Sprintf("+1628556%04d", n), fmt.Sprintf("+1628557%04d", n)}
	acmeMACs := []string{fmt.Sprintf("0015660a%04d", n), fmt.Sprintf("0015660b%04d", n)}
	unusedDIDs := []string{fmt.Sprintf("+1628565%04d", n), fmt.Sprintf("+1628566%04d", n), fmt.Sprintf("+1628567%04d", n)}
	unusedMACs := []string{fmt.Sprintf("0015661a%04d", n), fmt.Sprintf("0015661b%04d", n)}
	// acme's numbers: assigned in the inventory, one routed; its phones.
	if _, _, err := f.store.AddDIDs(ctx, acmeDIDs, acme); err != nil {
		t.Fatal(err)
	}
	db, table := f.store.DB, f.store.Table
	putItem(t, db, table, store.DIDOwnerPK(acmeDIDs[0]), store.SKOwner, map[string]string{ // the DID routed to 100
		"Type": "DID_OWNER", "Number": acmeDIDs[0], "Inventory": "true", "Tenant": acme, "Extension": "100"})
	for i, m := range acmeMACs {
		putItem(t, db, table, store.MACOwnerPK(m), store.SKOwner, map[string]string{"Tenant": acme, "Endpoint": pbx.SIPUserName(fmt.Sprint(100+i), acme)})
	}
	file := func(dids, macs []string) string {
		return "extension,first_name,did,mac,caller_id\n" +
			"200,Ann," + dids[0] + "," + macs[0] + ",\n" +
			"201,Bo," + dids[1] + ",,\n" +
			"202,Cy,,," + macs[1] + "\n" + // a MAC in the wrong column is just text
			"203,Di,,," + dids[2] + "\n" + // someone's number as caller ID
			"204,Ed,,," + "\"Acme <" + dids[1] + ">\"\n" +
			"205,Fa,,," + macs[1] + "\n"
	}
	answers := func(t *testing.T, csv string, dids, macs []string, opts string) string {
		t.Helper()
		settings, err := f.store.LoadSettings(ctx, beta, []byte(opts))
		if err != nil {
			t.Fatal(err)
		}
		res := validate(t, csv, Input{Tenant: beta, Settings: settings, Lookup: f.store})
		b, _ := json.Marshal(res.report)
		out := string(b)
		for i, d := range dids {
			out = strings.ReplaceAll(out, d, fmt.Sprintf("<did%d>", i))
		}
		for i, m := range macs {
			out = strings.ReplaceAll(out, m, fmt.Sprintf("<mac%d>", i))
		}
		if strings.Contains(out, acme) {
			t.Errorf("beta's answer names acme: %s", out)
		}
		return strings.ReplaceAll(out, beta, "<tenant>")
	}
	for _, policy := range []store.DIDPolicy{{}, {ClaimFree: true}} {
		if err := f.store.SetDIDPolicy(ctx, beta, policy); err != nil {
			t.Fatal(err)
		}
		for _, opts := range []string{`{}`, `{"upload":{"create_dids":true}}`, `{"upload":{"dids_as_caller_id":true,"create_dids":true}}`} {
			t.Run(fmt.Sprintf("claim_free=%v %s", policy.ClaimFree, opts), func(t *testing.T) {
				got := answers(t, file(acmeDIDs, acmeMACs), acmeDIDs, acmeMACs, opts)
				want := answers(t, file(unusedDIDs, unusedMACs), unusedDIDs, unusedMACs, opts)
				if got != want {
					t.Errorf("acme's data and never-used data get different answers:\n acme's: %s\n unused: %s", got, want)
				}
				if !strings.Contains(got, pbx.CodeDIDUnavailable) || !strings.Contains(got, pbx.CodeCallerIDNotAllowed) {
					t.Errorf("answers lack the refusals: %s", got)
				}
			})
		}
	}
}

// TestCallerIDMustBeTheTenants (issue #17): beta may show its own DID, or
// a number the operator allowed, as caller ID; not acme's DID, not a
// number nobody assigned it, not 911.
func TestCallerIDMustBeTheTenants(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	acme, beta := newTenant(t, f.store, ""), newTenant(t, f.store, "")
	n := time.Now().UnixNano() % 1e4
	acmeDID, betaDID, allowed := fmt.Sprintf("+1628575%04d", n), fmt.Sprintf("+1628576%04d", n), fmt.Sprintf("+1800577%04d", n)
	if _, _, err := f.store.AddDIDs(ctx, []string{acmeDID}, acme); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.store.AddDIDs(ctx, []string{betaDID}, beta); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetDIDPolicy(ctx, beta, store.DIDPolicy{CallerIDs: []string{allowed}}); err != nil {
		t.Fatal(err)
	}
	csv := "extension,first_name,caller_id\n" +
		"200,Ann," + acmeDID + "\n" +
		"201,Bo,\"Sales <" + acmeDID + ">\"\n" +
		"202,Cy,911\n" +
		"203,Di,\"Help <112>\"\n" +
		"204,Ed," + betaDID + "\n" +
		"205,Fa,\"Main <" + allowed + ">\"\n" +
		"206,Gil,(628) 576-" + betaDID[len(betaDID)-4:] + "\n" // national notation of beta's own DID
	settings, err := f.store.LoadSettings(ctx, beta)
	if err != nil {
		t.Fatal(err)
	}
	res := validate(t, csv, Input{Tenant: beta, Settings: settings, Lookup: f.store})
	want := []string{"2 caller_id caller_id_not_allowed", "3 caller_id caller_id_not_allowed", "4 caller_id caller_id_not_allowed", "5 caller_id caller_id_not_allowed"}
	if got := issues(res.report.Errors); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("errors = %q, want %q", got, want)
	}
	if len(res.rows) != 3 || res.rows[1].CallerID != "Main <"+allowed+">" || res.rows[2].CallerID != betaDID {
		t.Errorf("valid rows = %+v", res.rows)
	}
}
