package portal

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// seedUsers writes users of tenant as create-records does.
func seedUsers(t *testing.T, tenant string, rows ...pbx.UserRow) {
	t.Helper()
	ctx := context.Background()
	st := testStore()
	settings, err := st.LoadSettings(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID).Sealer(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var writes []store.RowWrite
	for _, row := range rows {
		o, err := pbx.Build(tenant, settings, row)
		if err != nil {
			t.Fatal(err)
		}
		sip := o.Endpoint.SIPUser
		c := pbx.Credentials{SIPUser: sip, Extension: row.Extension, PortalKind: pbx.WelcomeInvite}
		c.SIPSecret, _ = sealer.Seal([]byte("sip-"+sip), pbx.SIPSecretBinding(sip))
		c.PIN, _ = sealer.Seal([]byte("pin-"+sip), pbx.PINBinding(sip))
		portal, _ := sealer.Seal([]byte("portal-"+sip), pbx.PortalBinding(sip))
		c.Portal = &portal
		writes = append(writes, store.RowWrite{Line: row.Line, Objects: o, Credentials: c})
	}
	if _, _, err := st.WriteRows(ctx, tenant, writes, store.WriteOptions{Job: "jseed"}); err != nil {
		t.Fatal(err)
	}
}

func downloadUsers(t *testing.T, h *Handler, tenant string) (UsersLink, [][]string) {
	t.Helper()
	r := call(t, h, apiCall{tenant: tenant, method: "GET", path: "/users"})
	if r.status != http.StatusOK {
		t.Fatalf("GET /users as %s = %d %s", tenant, r.status, r.body)
	}
	var link UsersLink
	r.json(t, &link)
	resp, body := get(t, "GET", link.URL, nil, "")
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), link.Name) {
		t.Fatalf("GET %s = %d %v", link.URL, resp.StatusCode, resp.Header)
	}
	records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return link, records
}

func TestUsersDownload(t *testing.T) {
	const acme, beta = "usracme", "usrbeta"
	settingsTenant(t, acme)
	settingsTenant(t, beta)
	seedUsers(t, acme,
		pbx.UserRow{Line: 2, Extension: "110", FirstName: "Ann", LastName: "Lee", Email: "ann@usracme.example", Department: "=SUM(A1)"},
		pbx.UserRow{Line: 3, Extension: "20", FirstName: "Bo", LastName: "Ek", Email: "bo@usracme.example", MAC: "0004f2aabb10"},
	)
	h := newTestHandler(t)
	link, rows := downloadUsers(t, h, acme)
	if link.Users != 2 || len(rows) != 3 || strings.Join(rows[0][:4], ",") != "extension,first_name,last_name,email" {
		t.Fatalf("acme's users %+v: %v", link, rows)
	}
	// Numeric-aware order, the template's columns, formulas neutralised.
	if rows[1][0] != "20" || rows[2][0] != "110" || rows[2][9] != "'=SUM(A1)" || rows[1][8] != "yealink-t54w" {
		t.Errorf("rows = %v", rows)
	}
	// beta gets its own (none), never acme's; the link is under beta's folder.
	link, rows = downloadUsers(t, h, beta)
	if link.Users != 0 || len(rows) != 1 || strings.Contains(link.URL, acme) {
		t.Errorf("beta's download = %+v %v", link, rows)
	}
}
