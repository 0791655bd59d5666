// Package welcome renders and sends the welcome email that gives each new
// PBX user their access information, exactly once per user.
//
// Rendering: the default template (subject, plain text and HTML, embedded in
// the binary) or the tenant's overrides from settings.Email, text/template
// for the subject and the text body and html/template for the HTML body, all
// with the same variables and FuncMap. Overrides are checked when the tenant
// saves them (ValidateOverrides), not at send time.
//
// Sending: see Handler for the flow and the at-most-once decision.
package welcome

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

//go:embed templates
var defaultTemplates embed.FS

// Limits on tenant overrides, so a settings item stays small and a subject
// stays a reasonable header.
const (
	maxSubjectTemplate = 512
	maxBodyTemplate    = 64 << 10
	maxSubjectRendered = 400
	// MaxBodyRendered bounds each rendered body (text, HTML): a welcome
	// email is a page of text, and a template that renders more is refused
	// when saved and never sent.
	MaxBodyRendered = maxBodyRendered
)

// Vars are the values a welcome email can show. Templates see them under the
// upper-case names of VariableNames (the PBX's names: WEB_USER_NAME, ...).
type Vars struct {
	TenantName       string // TENANT_NAME: the tenant's display name
	Name             string // NAME: the user's display name
	Email            string // EMAIL
	Extension        string // EXTENSION
	DID              string // DID, E.164, empty when the user has none
	WebUserName      string // WEB_USER_NAME: portal user, "acme-100"
	WebPassword      string // WEB_PASSWORD: temporary password (password mode)
	InviteURL        string // WEB_INVITE_URL: one-time link (invite mode)
	InviteValidHours int    // INVITE_VALID_HOURS
	PortalURL        string // PORTAL_URL
	PhoneUserName    string // PHONE_USER_NAME: SIP user, "100-acme"
	PhonePassword    string // PHONE_PASSWORD: SIP secret, or a sentence when withheld
	PhoneProvisioned bool   // PHONE_PROVISIONED: a desk phone is configured automatically
	VMPIN            string // VM_PIN
}

// data is the map templates execute on; its keys are the variable names.
func (v Vars) data() map[string]any {
	return map[string]any{
		"TENANT_NAME":        v.TenantName,
		"NAME":               v.Name,
		"EMAIL":              v.Email,
		"EXTENSION":          v.Extension,
		"DID":                v.DID,
		"WEB_USER_NAME":      v.WebUserName,
		"WEB_PASSWORD":       v.WebPassword,
		"WEB_INVITE_URL":     v.InviteURL,
		"INVITE_VALID_HOURS": v.InviteValidHours,
		"PORTAL_URL":         v.PortalURL,
		"PHONE_USER_NAME":    v.PhoneUserName,
		"PHONE_PASSWORD":     v.PhonePassword,
		"PHONE_PROVISIONED":  v.PhoneProvisioned,
		"VM_PIN":             v.VMPIN,
	}
}

// VariableNames lists the variables a template may use, sorted.
func VariableNames() []string {
	names := make([]string, 0, 16)
	for k := range (Vars{}).data() {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// funcMap is the one FuncMap of every welcome template, default or override.
func funcMap() map[string]any {
	return map[string]any{
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
		"trim":  strings.TrimSpace,
	}
}

// Content is a rendered email.
type Content struct {
	Subject string
	Text    string
	HTML    string
}

// Templates are the parsed templates of one tenant.
type Templates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// ParseTemplates parses the default templates with e's overrides in place
// of the parts it overrides. An override using an unknown variable is
// EINVALID naming the variable.
//
// Errors come in a fixed order, which the portal's save messages show: a
// part that is too long, not UTF-8 or does not parse, then an unknown
// variable (subject, text, HTML), and only once every part passed those, an
// override's unbounded action (issue #17).
func ParseTemplates(e pbx.Email) (*Templates, error) {
	subject, err := source(e.Subject, "templates/subject.txt", "email.subject", maxSubjectTemplate)
	if err != nil {
		return nil, err
	}
	text, err := source(e.TextBody, "templates/body.txt", "email.text_body", maxBodyTemplate)
	if err != nil {
		return nil, err
	}
	html, err := source(e.HTMLBody, "templates/body.html", "email.html_body", maxBodyTemplate)
	if err != nil {
		return nil, err
	}
	var t Templates
	var faults [3]treeFaults
	if t.subject, faults[0], err = parseText("email.subject", subject); err != nil {
		return nil, err
	}
	if t.text, faults[1], err = parseText("email.text_body", text); err != nil {
		return nil, err
	}
	if t.html, faults[2], err = parseHTML("email.html_body", html); err != nil {
		return nil, err
	}
	// Issue #17: a tenant's override must render in bounded time and size.
	for i, o := range []struct{ field, src string }{
		{"email.subject", e.Subject}, {"email.text_body", e.TextBody}, {"email.html_body", e.HTMLBody},
	} {
		if o.src == "" {
			continue
		}
		if err := faults[i].boundError(o.field); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// source returns the override, or the embedded default when it is empty.
func source(override, defaultName, field string, limit int) (string, error) {
	if override != "" {
		if len(override) > limit {
			return "", pbx.Errorf(pbx.ELIMIT, field, "template is %d bytes, more than the %d allowed", len(override), limit)
		}
		if !utf8.ValidString(override) {
			return "", pbx.Errorf(pbx.EINVALID, field, "template is not valid UTF-8")
		}
		return override, nil
	}
	b, err := defaultTemplates.ReadFile(defaultName)
	if err != nil {
		return "", fmt.Errorf("read default template %s: %w", defaultName, err)
	}
	return string(b), nil
}

// parseText parses a text part and refuses an unknown variable; the
// unbounded actions it found are for the caller to refuse in an override.
func parseText(field, src string) (*texttemplate.Template, treeFaults, error) {
	t, err := texttemplate.New(field).Funcs(funcMap()).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, treeFaults{}, &pbx.Error{Code: pbx.EINVALID, Field: field, Message: "template does not parse: " + err.Error(), Err: err}
	}
	f := inspectTrees(textTrees(t))
	return t, f, f.variableError(field)
}

// parseHTML is parseText for the HTML part.
func parseHTML(field, src string) (*htmltemplate.Template, treeFaults, error) {
	t, err := htmltemplate.New(field).Funcs(funcMap()).Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, treeFaults{}, &pbx.Error{Code: pbx.EINVALID, Field: field, Message: "template does not parse: " + err.Error(), Err: err}
	}
	f := inspectTrees(htmlTrees(t))
	return t, f, f.variableError(field)
}

// Render executes the templates on v, each within maxRendered bytes and
// all within maxRenderTime (issue #17; checked when the templates are saved,
// enforced here at send time). The subject is trimmed and must be one line
// of printable text.
func (t *Templates) Render(v Vars) (Content, error) {
	data := v.data()
	deadline := time.Now().Add(maxRenderTime)
	subject := &boundedBuffer{field: "email.subject", max: maxSubjectRenderedBytes, deadline: deadline}
	text := &boundedBuffer{field: "email.text_body", max: maxBodyRendered, deadline: deadline}
	html := &boundedBuffer{field: "email.html_body", max: maxBodyRendered, deadline: deadline}
	if err := t.subject.Execute(subject, data); err != nil {
		return Content{}, renderError(subject, err)
	}
	if err := t.text.Execute(text, data); err != nil {
		return Content{}, renderError(text, err)
	}
	if err := t.html.Execute(html, data); err != nil {
		return Content{}, renderError(html, err)
	}
	c := Content{Subject: strings.TrimSpace(subject.String()), Text: text.String(), HTML: html.String()}
	if err := checkHeaderText("subject", c.Subject); err != nil {
		return Content{}, err
	}
	switch n := utf8.RuneCountInString(c.Subject); {
	case n == 0:
		return Content{}, pbx.Errorf(pbx.EINVALID, "subject", "renders empty")
	case n > maxSubjectRendered:
		return Content{}, pbx.Errorf(pbx.ELIMIT, "subject", "renders to %d characters, more than %d", n, maxSubjectRendered)
	}
	return c, nil
}

// DefaultTemplates returns the built-in subject, text and HTML templates, the
// starting point of a tenant's overrides.
func DefaultTemplates() (subject, text, html string, err error) {
	for _, p := range []struct {
		dst  *string
		name string
	}{{&subject, "templates/subject.txt"}, {&text, "templates/body.txt"}, {&html, "templates/body.html"}} {
		b, err := defaultTemplates.ReadFile(p.name)
		if err != nil {
			return "", "", "", fmt.Errorf("read default template %s: %w", p.name, err)
		}
		*p.dst = string(b)
	}
	return subject, text, html, nil
}

// SampleVars are the values a preview of the welcome email shows: the
// tenant's own name, portal and invite lifetime with a made-up user, in the
// given portal mode (invite or password).
func SampleVars(s pbx.Settings, tenant string, mode pbx.WelcomeMode) Vars {
	v := sampleVars()[0]
	if mode == pbx.WelcomePassword {
		v = sampleVars()[1]
	}
	v.TenantName = s.TenantDisplayName
	if v.TenantName == "" {
		v.TenantName = tenant
	}
	if base, err := portalBase(s.Email.PortalURL); err == nil {
		v.PortalURL = base
		if v.InviteURL != "" {
			v.InviteURL = base + "/invite/sample-one-time-token"
		}
	}
	v.InviteValidHours = s.Email.InviteTTLHours
	v.WebUserName = pbx.PortalUserName(tenant, v.Extension)
	return v
}

// sampleVars are the dry-run values for ValidateOverrides: every variable
// set, in each portal mode, with and without a provisioned phone.
func sampleVars() []Vars {
	base := Vars{
		TenantName: "Acme Corp", Name: "Ann Lee", Email: "ann@acme.example", Extension: "100",
		DID: "+14155550100", WebUserName: "acme-100", PortalURL: "https://portal.pbx.example",
		InviteValidHours: 72, PhoneUserName: "100-acme", PhonePassword: "s3cretS3cretS3cretS3cret", VMPIN: "480213",
	}
	invite := base
	invite.InviteURL = "https://portal.pbx.example/invite/token"
	password := base
	password.WebPassword = "Temp-Passw0rd!"
	provisioned := invite
	provisioned.DID = ""
	provisioned.PhoneProvisioned = true
	provisioned.PhonePassword = phoneConfiguredSentence
	return []Vars{invite, password, provisioned}
}

// ValidateOverrides checks a tenant's template overrides (subject, text and
// HTML bodies) when the settings are saved: each parses with the welcome
// FuncMap, uses only known variables and renders in a dry run with every
// variable set. An unknown {{.FOO}} is a *pbx.Error EINVALID naming FOO.
func ValidateOverrides(e pbx.Email) error {
	t, err := ParseTemplates(e)
	if err != nil {
		return err
	}
	for _, v := range sampleVars() {
		if _, err := t.Render(v); err != nil {
			return err
		}
	}
	return nil
}
