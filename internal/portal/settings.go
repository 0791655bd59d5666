package portal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/tenants"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// TenantSettings reads and replaces a tenant's stored settings overrides;
// *store.Store satisfies it.
type TenantSettings interface {
	TenantOverrides(ctx context.Context, tenant string) (displayName string, overrides []byte, err error)
	SystemOverrides(ctx context.Context) ([]byte, error)
	ReplaceTenantOverrides(ctx context.Context, tenant string, prev, overrides []byte) error
}

// Sources of a setting's effective value.
const (
	SourceSystem = "system" // the system default (pbx.SystemDefaults or the operator's SYSTEM/DEFAULTS)
	SourceTenant = "tenant" // the tenant's own settings
)

// Kinds of setting, i.e. which control the page shows.
const (
	kindText     = "text"
	kindNumber   = "number"
	kindBool     = "bool"
	kindSelect   = "select"
	kindTemplate = "template"
	kindList     = "list"
)

// Choice is one value of a select setting.
type Choice struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

// settingSpec describes one setting of pbx.Settings by its dotted JSON path.
type settingSpec struct {
	name, group, label, help, kind string
	choices                        []Choice
	min, max                       int
	editable                       bool
}

// SettingGroup is a heading of the settings page.
type SettingGroup struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

var settingGroups = []SettingGroup{
	{"phones", "Phones"},
	{"email", "Welcome email"},
	{"upload", "Upload defaults"},
	{"password", "Temporary password policy"},
	{"tenant", "Tenant"},
	{"operator", "Set by your operator"},
}

func phoneModelChoices() []Choice {
	out := []Choice{{"", "None (MACs are ignored with a warning)"}}
	for _, m := range provision.Models() {
		out = append(out, Choice{m, m})
	}
	return out
}

// settingSpecs lists every setting the page shows. Tenant-editable ones
// are what an admin runs their tenant with; the rest shape the platform
// (limits, SIP servers, sender identity) and only the operator sets them.
func settingSpecs() []settingSpec {
	return []settingSpec{
		{name: "provisioning.default_phone_model", group: "phones", label: "Default phone model", kind: kindSelect, choices: phoneModelChoices(), editable: true,
			help: "Used for rows with a MAC address and no phone model."},
		{name: "provisioning.time_zone", group: "phones", label: "Phones' time zone", kind: kindText, editable: true, help: "IANA name, e.g. Europe/Paris."},
		{name: "provisioning.language", group: "phones", label: "Phones' language", kind: kindText, editable: true, help: "Language tag, e.g. en-US, fr-FR."},

		{name: "email.subject", group: "email", label: "Subject template", kind: kindTemplate, editable: true},
		{name: "email.text_body", group: "email", label: "Plain text template", kind: kindTemplate, editable: true},
		{name: "email.html_body", group: "email", label: "HTML template", kind: kindTemplate, editable: true},
		{name: "email.invite_ttl_hours", group: "email", label: "Invite link valid for (hours)", kind: kindNumber, min: 1, max: 720, editable: true},
		{name: "email.include_sip_secret", group: "email", label: "Include the SIP password even when the desk phone is provisioned", kind: kindBool, editable: true},

		{name: "upload.welcome", group: "upload", label: "Welcome email", kind: kindSelect, editable: true, choices: []Choice{
			{"invite", "Invite link to set a password"}, {"password", "Temporary password"}, {"none", "Don't send: hold until released"}}},
		{name: "upload.on_existing", group: "upload", label: "When an extension already exists", kind: kindSelect, editable: true, choices: []Choice{
			{"fail", "Report the row as an error"}, {"skip", "Skip the row"}, {"update", "Update the existing user"}}},
		{name: "upload.create_dids", group: "upload", label: "Create DIDs if missing", kind: kindBool, editable: true},
		{name: "upload.dids_as_caller_id", group: "upload", label: "Use DIDs as caller IDs", kind: kindBool, editable: true},
		{name: "upload.dry_run", group: "upload", label: "Dry run by default", kind: kindBool, editable: true},
		{name: "all_or_nothing", group: "upload", label: "Hold the whole file when any row is invalid", kind: kindBool, editable: true},

		{name: "password.length", group: "password", label: "Length", kind: kindNumber, min: 8, max: 128, editable: true},
		{name: "password.require_upper", group: "password", label: "Require an upper-case letter", kind: kindBool, editable: true},
		{name: "password.require_lower", group: "password", label: "Require a lower-case letter", kind: kindBool, editable: true},
		{name: "password.require_digit", group: "password", label: "Require a digit", kind: kindBool, editable: true},
		{name: "password.require_other", group: "password", label: "Require a symbol", kind: kindBool, editable: true},

		{name: "tenant_display_name", group: "tenant", label: "Display name", kind: kindText, editable: true, help: "Shown in the welcome email."},
		{name: "default_region", group: "tenant", label: "Region for national phone numbers", kind: kindText, editable: true, help: "Two-letter ISO 3166 code, e.g. US, FR."},
		{name: "voicemail_pin_length", group: "tenant", label: "Voicemail PIN length", kind: kindNumber, min: 4, max: 12, editable: true},

		{name: "provisioning.enabled", group: "operator", label: "Device provisioning", kind: kindBool},
		{name: "provisioning.registrar", group: "operator", label: "SIP registrar", kind: kindText},
		{name: "provisioning.proxy", group: "operator", label: "SIP proxy", kind: kindText},
		{name: "provisioning.port", group: "operator", label: "SIP port", kind: kindNumber},
		{name: "provisioning.transport", group: "operator", label: "SIP transport", kind: kindText},
		{name: "provisioning.voicemail_number", group: "operator", label: "Voicemail number", kind: kindText},
		{name: "provisioning.ntp_server", group: "operator", label: "NTP server", kind: kindText},
		{name: "provisioning.path", group: "operator", label: "Provisioning folder", kind: kindText},
		{name: "email.from", group: "operator", label: "Sender", kind: kindText},
		{name: "email.configuration_set", group: "operator", label: "SES configuration set", kind: kindText},
		{name: "email.portal_url", group: "operator", label: "Portal URL in emails", kind: kindText},
		{name: "extension_min_len", group: "operator", label: "Shortest extension", kind: kindNumber},
		{name: "extension_max_len", group: "operator", label: "Longest extension", kind: kindNumber},
		{name: "reserved_extensions", group: "operator", label: "Reserved extensions", kind: kindList},
		{name: "max_rows", group: "operator", label: "Rows per upload", kind: kindNumber},
		{name: "max_object_bytes", group: "operator", label: "Bytes per upload", kind: kindNumber},
		{name: "call_script", group: "operator", label: "Call script", kind: kindText},
		{name: "batch_size", group: "operator", label: "Rows per batch", kind: kindNumber},
	}
}

// SettingField is one setting as the page shows it.
type SettingField struct {
	Name     string   `json:"name"` // dotted path in the settings document
	Group    string   `json:"group"`
	Label    string   `json:"label"`
	Help     string   `json:"help,omitempty"`
	Kind     string   `json:"kind"`
	Choices  []Choice `json:"choices,omitempty"`
	Min      int      `json:"min,omitempty"`
	Max      int      `json:"max,omitempty"`
	Value    any      `json:"value"`   // effective value
	Default  any      `json:"default"` // the value without the tenant's setting
	Source   string   `json:"source"`  // system | tenant
	Editable bool     `json:"editable"`
}

// SettingsView is GET /settings' answer.
type SettingsView struct {
	// Version identifies the stored settings; PUT /settings sends it back.
	Version   string         `json:"version"`
	Groups    []SettingGroup `json:"groups"`
	Fields    []SettingField `json:"fields"`
	Variables []string       `json:"variables"` // what templates may use
	// MaxRenderedBytes bounds a rendered email body.
	MaxRenderedBytes int `json:"max_rendered_bytes"`
}

// SettingsUpdate is PUT /settings' body: the tenant-editable settings the
// tenant sets (by dotted name); every editable setting not in Values
// follows the system default. Settings only the operator sets are kept as
// they are and may not be sent.
type SettingsUpdate struct {
	Version string                     `json:"version"`
	Values  map[string]json.RawMessage `json:"values"`
}

// PreviewRequest is POST /settings/preview's body: templates being edited
// ("" = the default template) and the portal mode to show.
type PreviewRequest struct {
	Subject  string `json:"subject"`
	TextBody string `json:"text_body"`
	HTMLBody string `json:"html_body"`
	Mode     string `json:"mode"` // invite | password; "" = the tenant's default
}

// Preview is POST /settings/preview's answer: the email rendered by the
// same templates as sending, with sample values.
type Preview struct {
	Mode    string `json:"mode"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html"`
}

func settingsVersion(overrides []byte) string {
	sum := sha256.Sum256(overrides)
	return hex.EncodeToString(sum[:8])
}

func (h *Handler) tenantSettings() (TenantSettings, error) {
	if h.deps.Tenants == nil {
		return nil, errorf(http.StatusNotImplemented, codeNotAvailable, "settings are not available on this server")
	}
	return h.deps.Tenants, nil
}

// loadTenantLayers reads what the settings page is made of.
func (h *Handler) loadTenantLayers(ctx context.Context, tenant string) (tenantLayers, error) {
	var l tenantLayers
	var err error
	if l.store, err = h.tenantSettings(); err != nil {
		return l, err
	}
	if l.displayName, l.own, err = l.store.TenantOverrides(ctx, tenant); err != nil {
		if pbx.ErrorCode(err) == pbx.ENOTFOUND {
			return l, errorf(http.StatusForbidden, codeForbidden, "your tenant is not set up yet")
		}
		return l, err
	}
	if l.system, err = l.store.SystemOverrides(ctx); err != nil {
		return l, err
	}
	if l.displayName == "" {
		l.displayName = tenant
	}
	return l, nil
}

// tenantLayers are the stored layers of a tenant's settings.
type tenantLayers struct {
	store       TenantSettings
	displayName string
	system, own []byte
}

func (h *Handler) getSettings(ctx context.Context, r *request) (any, error) {
	l, err := h.loadTenantLayers(ctx, r.tenant)
	if err != nil {
		return nil, err
	}
	settings, err := h.deps.Settings.LoadSettings(ctx, r.tenant)
	if err != nil {
		return nil, err
	}
	return settingsView(l.displayName, l.system, l.own, settings)
}

// settingsView builds the page's view: each setting's effective value from
// the merged settings, its default from the system layers alone, and its
// source from whether the tenant's document sets it.
func settingsView(displayName string, system, own []byte, effective pbx.Settings) (*SettingsView, error) {
	base, err := pbx.Merge(pbx.SystemDefaults(), system)
	if err != nil {
		return nil, err
	}
	base.TenantDisplayName = displayName
	eff, err := toTree(effective)
	if err != nil {
		return nil, err
	}
	def, err := toTree(base)
	if err != nil {
		return nil, err
	}
	ownTree := map[string]any{}
	if len(bytes.TrimSpace(own)) > 0 {
		if err := json.Unmarshal(own, &ownTree); err != nil {
			return nil, err
		}
	}
	subject, text, html, err := welcome.DefaultTemplates()
	if err != nil {
		return nil, err
	}
	defaultTemplate := map[string]string{"email.subject": subject, "email.text_body": text, "email.html_body": html}

	v := &SettingsView{
		Version: settingsVersion(own), Groups: settingGroups, Variables: welcome.VariableNames(),
		MaxRenderedBytes: welcome.MaxBodyRendered,
	}
	for _, s := range settingSpecs() {
		f := SettingField{
			Name: s.name, Group: s.group, Label: s.label, Help: s.help, Kind: s.kind, Choices: s.choices,
			Min: s.min, Max: s.max, Editable: s.editable, Source: SourceSystem,
			Value: lookup(eff, s.name), Default: lookup(def, s.name),
		}
		if _, set := lookupOK(ownTree, s.name); set {
			f.Source = SourceTenant
		}
		if d, ok := defaultTemplate[s.name]; ok {
			// The editor starts from the text in force: the default template
			// when the tenant has none.
			if str, _ := f.Value.(string); str == "" {
				f.Value = d
			}
			if str, _ := f.Default.(string); str == "" {
				f.Default = d
			}
		}
		v.Fields = append(v.Fields, f)
	}
	return v, nil
}

func (h *Handler) putSettings(ctx context.Context, r *request) (any, error) {
	var req SettingsUpdate
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	l, err := h.loadTenantLayers(ctx, r.tenant)
	if err != nil {
		return nil, err
	}
	own := l.own
	if req.Version != settingsVersion(own) {
		return nil, errorf(http.StatusConflict, pbx.ECONFLICT, "the settings were changed since you loaded them; reload to see the current values")
	}
	next, err := applyUpdate(own, req.Values)
	if err != nil {
		return nil, err
	}
	// The same check as `bulkprov tenant check`, then the store's own merge
	// over the operator's system overrides.
	if _, err := tenants.Check(next); err != nil {
		return nil, err
	}
	if err := l.store.ReplaceTenantOverrides(ctx, r.tenant, own, next); err != nil {
		if pbx.ErrorCode(err) == pbx.ECONFLICT {
			return nil, errorf(http.StatusConflict, pbx.ECONFLICT, "the settings were changed since you loaded them; reload to see the current values")
		}
		return nil, err
	}
	h.log.InfoContext(ctx, "tenant settings saved", "tenant", r.tenant, "fields", len(req.Values))
	settings, err := h.deps.Settings.LoadSettings(ctx, r.tenant)
	if err != nil {
		return nil, err
	}
	return settingsView(l.displayName, l.system, next, settings)
}

// applyUpdate returns the tenant's new overrides document: the operator's
// settings in own kept, every editable setting replaced by values (absent:
// removed, so the system default applies).
func applyUpdate(own []byte, values map[string]json.RawMessage) ([]byte, error) {
	tree := map[string]any{}
	if len(bytes.TrimSpace(own)) > 0 {
		if err := json.Unmarshal(own, &tree); err != nil {
			return nil, err
		}
	}
	specs := map[string]settingSpec{}
	for _, s := range settingSpecs() {
		specs[s.name] = s
		if s.editable {
			remove(tree, s.name)
		}
	}
	subject, text, html, err := welcome.DefaultTemplates()
	if err != nil {
		return nil, err
	}
	defaultTemplate := map[string]string{"email.subject": subject, "email.text_body": text, "email.html_body": html}
	for name, raw := range values {
		s, ok := specs[name]
		switch {
		case !ok:
			return nil, fieldError(pbx.EINVALID, name, "is not a setting")
		case !s.editable:
			return nil, &apiError{status: http.StatusForbidden, code: codeReadOnly, field: name, message: "is set by your operator and cannot be changed here"}
		}
		v, err := decodeSetting(s, raw)
		if err != nil {
			return nil, err
		}
		if str, ok := v.(string); ok && s.kind == kindTemplate && (str == "" || normalizeNewlines(str) == defaultTemplate[name]) {
			continue // the default template: follow it, including its later improvements
		}
		set(tree, name, v)
	}
	return json.Marshal(tree)
}

// decodeSetting checks a value against its setting's kind.
func decodeSetting(s settingSpec, raw json.RawMessage) (any, error) {
	switch s.kind {
	case kindBool:
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, fieldError(pbx.EINVALID, s.name, "must be true or false")
		}
		return b, nil
	case kindNumber:
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil || f != math.Trunc(f) {
			return nil, fieldError(pbx.EINVALID, s.name, "must be a whole number")
		}
		if (s.min != 0 || s.max != 0) && (f < float64(s.min) || f > float64(s.max)) {
			return nil, fieldError(pbx.EINVALID, s.name, "must be between %d and %d", s.min, s.max)
		}
		return int64(f), nil
	default:
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return nil, fieldError(pbx.EINVALID, s.name, "must be text")
		}
		switch s.kind {
		case kindTemplate:
			return normalizeNewlines(str), nil
		case kindSelect:
			for _, c := range s.choices {
				if c.Value == str {
					return str, nil
				}
			}
			return nil, fieldError(pbx.EINVALID, s.name, "%q is not one of the choices", clip(str, 40))
		}
		str = strings.TrimSpace(str)
		if len(str) > 200 {
			return nil, fieldError(pbx.ELIMIT, s.name, "is longer than 200 characters")
		}
		return str, nil
	}
}

func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func fieldError(code, field, format string, args ...any) *apiError {
	e := errorf(http.StatusBadRequest, code, format, args...)
	e.field = field
	return e
}

func (h *Handler) previewSettings(ctx context.Context, r *request) (any, error) {
	var req PreviewRequest
	if err := decodeJSON(r, &req); err != nil {
		return nil, err
	}
	settings, err := h.deps.Settings.LoadSettings(ctx, r.tenant)
	if err != nil {
		if pbx.ErrorCode(err) == pbx.ENOTFOUND {
			return nil, errorf(http.StatusForbidden, codeForbidden, "your tenant is not set up yet")
		}
		return nil, err
	}
	mode := pbx.WelcomeMode(req.Mode)
	switch mode {
	case "":
		mode = settings.Upload.Welcome
		if mode == pbx.WelcomeNone {
			mode = pbx.WelcomeInvite
		}
	case pbx.WelcomeInvite, pbx.WelcomePassword:
	default:
		return nil, fieldError(pbx.EINVALID, "mode", "must be invite or password")
	}
	e := settings.Email
	e.Subject, e.TextBody, e.HTMLBody = normalizeNewlines(req.Subject), normalizeNewlines(req.TextBody), normalizeNewlines(req.HTMLBody)
	tpl, err := welcome.ParseTemplates(e)
	if err != nil {
		return nil, err
	}
	c, err := tpl.Render(welcome.SampleVars(settings, r.tenant, mode))
	if err != nil {
		return nil, err
	}
	return Preview{Mode: string(mode), Subject: c.Subject, Text: c.Text, HTML: c.HTML}, nil
}

// toTree turns settings into their JSON document.
func toTree(s pbx.Settings) (map[string]any, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func lookup(tree map[string]any, name string) any {
	v, _ := lookupOK(tree, name)
	return v
}

func lookupOK(tree map[string]any, name string) (any, bool) {
	parts := strings.Split(name, ".")
	var cur any = tree
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func set(tree map[string]any, name string, v any) {
	parts := strings.Split(name, ".")
	m := tree
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

func remove(tree map[string]any, name string) {
	parts := strings.Split(name, ".")
	m := tree
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, parts[len(parts)-1])
	if len(parts) == 2 && len(m) == 0 {
		delete(tree, parts[0])
	}
}
