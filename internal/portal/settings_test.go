package portal

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// settingsTenant seeds a fresh tenant with the local overrides, so a test
// may change its settings freely.
func settingsTenant(t *testing.T, name string) {
	t.Helper()
	if err := testStore().PutTenant(context.Background(), pbx.Tenant{Name: name, DisplayName: "Tenant " + name}, pbx.LocalTenantOverrides(name)); err != nil {
		t.Fatal(err)
	}
}

func getSettingsView(t *testing.T, h *Handler, tenant string) SettingsView {
	t.Helper()
	r := call(t, h, apiCall{tenant: tenant, method: "GET", path: "/settings"})
	if r.status != http.StatusOK {
		t.Fatalf("GET /settings = %d: %s", r.status, r.body)
	}
	var v SettingsView
	r.json(t, &v)
	return v
}

func field(t *testing.T, v SettingsView, name string) SettingField {
	t.Helper()
	for _, f := range v.Fields {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no setting %s in %+v", name, v.Fields)
	return SettingField{}
}

func putSettings(t *testing.T, h *Handler, tenant, version string, values map[string]any) apiResult {
	t.Helper()
	body, err := json.Marshal(map[string]any{"version": version, "values": values})
	if err != nil {
		t.Fatal(err)
	}
	return call(t, h, apiCall{tenant: tenant, method: "PUT", path: "/settings", contentType: "application/json", body: string(body)})
}

// editable returns the values the page would send unchanged: every
// editable setting the tenant sets.
func editable(v SettingsView) map[string]any {
	out := map[string]any{}
	for _, f := range v.Fields {
		if f.Editable && f.Source == SourceTenant {
			out[f.Name] = f.Value
		}
	}
	return out
}

func TestSettingsShowEffectiveValuesAndSources(t *testing.T) {
	const tenant = "setview"
	settingsTenant(t, tenant)
	h := newTestHandler(t)
	v := getSettingsView(t, h, tenant)
	for name, want := range map[string]struct {
		value    any
		source   string
		editable bool
	}{
		"provisioning.default_phone_model": {"yealink-t54w", SourceTenant, true},
		"provisioning.time_zone":           {"America/Los_Angeles", SourceTenant, true},
		"password.length":                  {float64(14), SourceSystem, true},
		"upload.on_existing":               {"fail", SourceSystem, true},
		"provisioning.registrar":           {"sip.setview.pbx.example", SourceTenant, false},
		"batch_size":                       {float64(50), SourceSystem, false},
	} {
		f := field(t, v, name)
		if f.Value != want.value || f.Source != want.source || f.Editable != want.editable {
			t.Errorf("%s = %v from %s (editable %v), want %v from %s (editable %v)", name, f.Value, f.Source, f.Editable, want.value, want.source, want.editable)
		}
	}
	// The template editor starts from the default templates.
	subject, _, html, err := welcome.DefaultTemplates()
	if err != nil {
		t.Fatal(err)
	}
	if f := field(t, v, "email.subject"); f.Value != subject || f.Source != SourceSystem {
		t.Errorf("email.subject = %q from %s, want the default", f.Value, f.Source)
	}
	if f := field(t, v, "email.html_body"); f.Value != html {
		t.Errorf("email.html_body is not the default template")
	}
	if f := field(t, v, "provisioning.time_zone"); f.Default != "UTC" {
		t.Errorf("time zone default %v, want the system's UTC", f.Default)
	}
	if !strings.Contains(strings.Join(v.Variables, ","), "WEB_USER_NAME") || v.Version == "" {
		t.Errorf("variables %v, version %q", v.Variables, v.Version)
	}
}

func TestSettingsSave(t *testing.T) {
	const tenant = "setsave"
	settingsTenant(t, tenant)
	h := newTestHandler(t)
	v := getSettingsView(t, h, tenant)
	values := editable(v)
	values["provisioning.default_phone_model"] = "polycom-vvx450"
	values["upload.welcome"] = "none"
	values["password.length"] = 20
	values["email.subject"] = "Welcome, {{.NAME}}"
	delete(values, "provisioning.time_zone") // back to the system default
	r := putSettings(t, h, tenant, v.Version, values)
	if r.status != http.StatusOK {
		t.Fatalf("PUT /settings = %d: %s", r.status, r.body)
	}
	var saved SettingsView
	r.json(t, &saved)
	for name, want := range map[string]any{
		"provisioning.default_phone_model": "polycom-vvx450", "upload.welcome": "none", "password.length": float64(20),
		"email.subject": "Welcome, {{.NAME}}", "provisioning.time_zone": "UTC",
	} {
		if f := field(t, saved, name); f.Value != want {
			t.Errorf("%s = %v, want %v", name, f.Value, want)
		}
	}
	if f := field(t, saved, "provisioning.time_zone"); f.Source != SourceSystem {
		t.Errorf("reset time zone comes from %s", f.Source)
	}
	// The effective settings every step loads are the saved ones, and the
	// operator's settings are kept.
	s, err := testStore().LoadSettings(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	if s.Provisioning.DefaultPhoneModel != "polycom-vvx450" || s.Upload.Welcome != pbx.WelcomeNone || s.Password.Length != 20 ||
		s.Email.Subject != "Welcome, {{.NAME}}" || s.Provisioning.Registrar != "sip.setsave.pbx.example" || s.Email.From == "" {
		t.Errorf("stored settings %+v", s)
	}
	// GET /me gives the page the new upload defaults.
	me := call(t, h, apiCall{tenant: tenant, method: "GET", path: "/me"})
	if !strings.Contains(me.body, `"welcome":"none"`) {
		t.Errorf("/me defaults not updated: %s", me.body)
	}
	// The old version is stale now.
	if r := putSettings(t, h, tenant, v.Version, values); r.status != http.StatusConflict || r.errorCode(t) != pbx.ECONFLICT {
		t.Errorf("stale version: %d %s", r.status, r.body)
	}
	// Sending the default template back stores no override.
	values = editable(saved)
	subject, _, _, _ := welcome.DefaultTemplates()
	values["email.subject"] = strings.ReplaceAll(subject, "\n", "\r\n")
	r = putSettings(t, h, tenant, saved.Version, values)
	if r.status != http.StatusOK {
		t.Fatalf("PUT default subject = %d: %s", r.status, r.body)
	}
	r.json(t, &saved)
	if f := field(t, saved, "email.subject"); f.Source != SourceSystem {
		t.Errorf("the default template sent back is stored as the tenant's")
	}
}

func TestSettingsRefusals(t *testing.T) {
	const tenant = "setbad"
	settingsTenant(t, tenant)
	h := newTestHandler(t)
	v := getSettingsView(t, h, tenant)
	tests := []struct {
		name   string
		set    map[string]any
		status int
		code   string
		field  string
	}{
		{"operator-only field", map[string]any{"provisioning.registrar": "sip.evil.example"}, 403, codeReadOnly, "provisioning.registrar"},
		{"operator sender", map[string]any{"email.from": "x@evil.example"}, 403, codeReadOnly, "email.from"},
		{"unknown setting", map[string]any{"nope": 1}, 400, pbx.EINVALID, "nope"},
		{"time zone", map[string]any{"provisioning.time_zone": "Mars/Olympus"}, 400, pbx.EINVALID, "provisioning.time_zone"},
		{"language", map[string]any{"provisioning.language": "not a tag!"}, 400, pbx.EINVALID, "provisioning.language"},
		{"phone model", map[string]any{"provisioning.default_phone_model": "acme-9000"}, 400, pbx.EINVALID, "provisioning.default_phone_model"},
		{"password length", map[string]any{"password.length": 4}, 400, pbx.EINVALID, "password.length"},
		{"number as text", map[string]any{"password.length": "12"}, 400, pbx.EINVALID, "password.length"},
		{"bool as text", map[string]any{"upload.create_dids": "yes"}, 400, pbx.EINVALID, "upload.create_dids"},
		{"region", map[string]any{"default_region": "usa"}, 400, pbx.EINVALID, "default_region"},
		{"unknown variable", map[string]any{"email.text_body": "Hi {{.NICKNAME}}"}, 400, pbx.EINVALID, "email.text_body"},
		{"unbounded loop", map[string]any{"email.html_body": "{{range 100000}}{{range 100000}}{{end}}{{end}}"}, 400, pbx.EINVALID, "email.html_body"},
		{"oversize output", map[string]any{"email.text_body": strings.Repeat("{{.PHONE_PASSWORD}}", 12000)}, 400, pbx.ELIMIT, "email.text_body"},
		{"welcome mode", map[string]any{"upload.welcome": "sms"}, 400, pbx.EINVALID, "upload.welcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			values := editable(v)
			for k, val := range tt.set {
				values[k] = val
			}
			r := putSettings(t, h, tenant, v.Version, values)
			var e errorBody
			r.json(t, &e)
			if r.status != tt.status || e.Error.Code != tt.code || e.Error.Field != tt.field {
				t.Errorf("= %d %s on %q, want %d %s on %q: %s", r.status, e.Error.Code, e.Error.Field, tt.status, tt.code, tt.field, r.body)
			}
		})
	}
	// Nothing was stored.
	if after := getSettingsView(t, h, tenant); after.Version != v.Version {
		t.Errorf("a refused save changed the settings")
	}
}

func TestSettingsPreview(t *testing.T) {
	h := newTestHandler(t)
	preview := func(body string) apiResult {
		return call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/settings/preview", contentType: "application/json", body: body})
	}
	r := preview(`{"subject":"Hi {{.NAME}} at {{.TENANT_NAME}}","text_body":"User {{.WEB_USER_NAME}} {{.WEB_INVITE_URL}}","html_body":"<p>{{.NAME}}</p>","mode":"invite"}`)
	var p Preview
	r.json(t, &p)
	if r.status != 200 || p.Subject != "Hi Ann Lee at acme" || !strings.HasPrefix(p.Text, "User acme-100 https://portal.pbx.example/invite/") ||
		p.HTML != "<p>Ann Lee</p>" || p.Mode != "invite" {
		t.Fatalf("preview = %d %+v", r.status, p)
	}
	// Empty templates are the defaults; password mode shows a password.
	r = preview(`{"mode":"password"}`)
	r.json(t, &p)
	if r.status != 200 || !strings.Contains(p.Text, "Temporary password") || !strings.Contains(p.HTML, "<html") {
		t.Fatalf("default preview = %d %+v", r.status, p)
	}
	// HTML is escaped by html/template, as when sending.
	r = preview(`{"html_body":"<p>{{.NAME}}</p><script>alert(1)</script>","subject":"x"}`)
	r.json(t, &p)
	if r.status != 200 || !strings.Contains(p.HTML, "<p>Ann Lee</p>") {
		t.Fatalf("html preview = %d %+v", r.status, p)
	}
	for body, field := range map[string]string{
		`{"subject":"{{.NICKNAME}}"}`:         "email.subject",
		`{"text_body":"{{range 3}}x{{end}}"}`: "email.text_body",
		`{"html_body":"{{if}}"}`:              "email.html_body",
		`{"mode":"sms"}`:                      "mode",
		`{"text_body":"` + strings.Repeat("{{.VM_PIN}}{{.PHONE_PASSWORD}}", 9000) + `"}`: "email.text_body",
	} {
		r := preview(body)
		var e errorBody
		r.json(t, &e)
		if r.status != 400 || e.Error.Field != field {
			t.Errorf("preview %.40s = %d on %q, want 400 on %s", body, r.status, e.Error.Field, field)
		}
	}
}

func TestSettingsAreTheCallersOnly(t *testing.T) {
	// beta edits its settings; acme's stay as they are, and nothing beta
	// can send addresses another tenant's.
	settingsTenant(t, "setacme")
	settingsTenant(t, "setbeta")
	h := newTestHandler(t)
	before := getSettingsView(t, h, "setacme")
	b := getSettingsView(t, h, "setbeta")
	values := editable(b)
	values["provisioning.default_phone_model"] = "snom-d785"
	if r := putSettings(t, h, "setbeta", b.Version, values); r.status != 200 {
		t.Fatalf("beta save = %d %s", r.status, r.body)
	}
	// A version of acme's settings does not open acme's to beta.
	if r := putSettings(t, h, "setbeta", before.Version, values); r.status != http.StatusConflict {
		t.Errorf("beta with acme's version = %d %s", r.status, r.body)
	}
	after := getSettingsView(t, h, "setacme")
	if after.Version != before.Version || field(t, after, "provisioning.default_phone_model").Value != "yealink-t54w" {
		t.Errorf("acme's settings changed by beta")
	}
	// The query string and body cannot name a tenant.
	r := call(t, h, apiCall{tenant: "setbeta", method: "GET", path: "/settings", query: map[string]string{"tenant": "setacme"}})
	var v SettingsView
	r.json(t, &v)
	if field(t, v, "provisioning.registrar").Value != "sip.setbeta.pbx.example" {
		t.Errorf("GET /settings?tenant=setacme as beta showed %v", field(t, v, "provisioning.registrar").Value)
	}
}
