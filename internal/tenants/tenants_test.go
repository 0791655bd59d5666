package tenants

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

var st *store.Store

func TestMain(m *testing.M) {
	os.Exit(testkit.ForTests(m, devstack.Config{}, func(s *devstack.Stack) {
		st = store.New(s.Clients.DynamoDB, s.Table)
	}))
}

func TestSaveRejectsUnknownTemplateVariables(t *testing.T) {
	ctx := context.Background()
	bad := []byte(`{"email": {"subject": "Welcome {{.FIRST_NAME}}"}}`)
	err := Save(ctx, st, pbx.Tenant{Name: "tvars"}, bad)
	var e *pbx.Error
	if !errors.As(err, &e) || e.Code != pbx.EINVALID || !strings.Contains(err.Error(), "FIRST_NAME") {
		t.Fatalf("Save = %v, want EINVALID naming FIRST_NAME", err)
	}
	if _, err := st.LoadSettings(ctx, "tvars"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Fatalf("invalid settings were stored: LoadSettings = %v", err)
	}
}

func TestSaveStoresValidOverrides(t *testing.T) {
	ctx := context.Background()
	good := []byte(`{"email": {"subject": "Welcome to {{.TENANT_NAME}}, {{.NAME}}"}, "upload": {"welcome": "password"}}`)
	if err := Save(ctx, st, pbx.Tenant{Name: "tgood", DisplayName: "Good Inc."}, good); err != nil {
		t.Fatal(err)
	}
	s, err := st.LoadSettings(ctx, "tgood")
	if err != nil {
		t.Fatal(err)
	}
	if s.Upload.Welcome != pbx.WelcomePassword || s.Email.Subject != "Welcome to {{.TENANT_NAME}}, {{.NAME}}" || s.TenantDisplayName != "Good Inc." {
		t.Fatalf("loaded settings = %+v", s)
	}
}

func TestSaveRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		tenant    string
		overrides string
	}{
		"bad tenant":      {"Acme", `{}`},
		"unknown setting": {"trej", `{"welcom": "none"}`},
		"bad html":        {"trej", `{"email": {"html_body": "{{.NAME"}}`},
		"bad mode":        {"trej", `{"upload": {"welcome": "later"}}`},
	} {
		if err := Save(context.Background(), st, pbx.Tenant{Name: tc.tenant}, []byte(tc.overrides)); pbx.ErrorCode(err) != pbx.EINVALID {
			t.Errorf("%s: Save = %v, want EINVALID", name, err)
		}
	}
	if _, err := st.LoadSettings(context.Background(), "trej"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Fatalf("a rejected tenant was stored: %v", err)
	}
}

// TestSaveRejectsUnboundedTemplates (issue #17): the audit's template, a
// 20 MB message, is refused when tenant beta saves it (`bulkprov tenant
// check` and set use Check and Save); nothing is stored.
func TestSaveRejectsUnboundedTemplates(t *testing.T) {
	ctx := context.Background()
	for _, bad := range []string{
		`{"email":{"text_body":"{{range 2000000}}AAAAAAAAAA{{end}}"}}`,
		`{"email":{"html_body":"{{range 1000}}{{range 1000}}<p>x</p>{{end}}{{end}}"}}`,
		`{"email":{"text_body":"{{define \"a\"}}xx{{end}}{{template \"a\"}}{{template \"a\"}}"}}`,
	} {
		if _, err := Check([]byte(bad)); err == nil {
			t.Errorf("Check(%s) accepted", bad)
		}
		if err := Save(ctx, st, pbx.Tenant{Name: "beta", DisplayName: "beta"}, []byte(bad)); err == nil {
			t.Errorf("Save(%s) accepted", bad)
		}
	}
	if _, err := st.LoadSettings(ctx, "beta"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("beta was stored: %v", err)
	}
}
