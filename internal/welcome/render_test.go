package welcome

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

func testSettings(t *testing.T) pbx.Settings {
	t.Helper()
	s, err := pbx.Merge(pbx.SystemDefaults(), pbx.LocalTenantOverrides("acme"))
	if err != nil {
		t.Fatal(err)
	}
	s.TenantDisplayName = "Acme Corp"
	return s
}

func testRow() events.RowResult {
	return events.RowResult{
		Line: 2, Extension: "100", Name: "Ann Lee", User: "acme-100", SIPUser: "100-acme",
		Email: "ann@acme.example", DID: "+14155550100", Status: events.StatusCreated,
	}
}

// parsedEmail is a raw message read back with net/mail and mime/multipart.
type parsedEmail struct {
	header      mail.Header
	subject     string
	from, to    *mail.Address
	text, html  string
	contentType string
}

func parseRaw(t *testing.T, raw []byte) parsedEmail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v", err)
	}
	var p parsedEmail
	p.header = msg.Header
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("subject: %v", err)
	}
	from, err := msg.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		t.Fatalf("From = %v, %v; want one address", from, err)
	}
	p.from = from[0]
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 {
		t.Fatalf("To = %v, %v; want one address", to, err)
	}
	p.to = to[0]
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type: %v", err)
	}
	p.contentType = mediaType
	if mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %s, want multipart/alternative", mediaType)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Fatalf("unexpected part %s", ct)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("want a text and an HTML part, got text %d bytes, html %d bytes", len(p.text), len(p.html))
	}
	return p
}

func render(t *testing.T, s pbx.Settings, row events.RowResult, sec Secrets) ([]byte, error) {
	t.Helper()
	tpl, err := ParseTemplates(s.Email)
	if err != nil {
		return nil, err
	}
	v, err := BuildVars(s, "acme", row, sec)
	if err != nil {
		return nil, err
	}
	c, err := tpl.Render(v)
	if err != nil {
		return nil, err
	}
	from, err := ParseFrom(s.Email.From)
	if err != nil {
		return nil, err
	}
	to, err := ParseRecipient(row.Name, row.Email)
	if err != nil {
		return nil, err
	}
	m := Message{From: from, To: to, Content: c, Date: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), Seed: "acme|" + row.User + "|j0123456789abcdef0123"}
	return m.Raw()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name+".eml.golden"), got)
}

// goldenEmail is one welcome email the golden test renders and checks.
type goldenEmail struct {
	name       string
	settings   pbx.Settings
	row        events.RowResult
	secrets    Secrets
	subject    string
	toName     string
	textHas    []string
	textHasNot []string
	htmlHas    []string
}

// goldenEmails are the golden test's emails: each portal mode, a
// provisioned phone, a tenant's override and a non-ASCII name.
func goldenEmails(t *testing.T) []goldenEmail {
	t.Helper()
	inviteSecrets := Secrets{Portal: "tok_AbC-123", PortalKind: pbx.WelcomeInvite, SIPSecret: "Sip5ecretSip5ecretSip5ecr", PIN: "480213"}
	passwordSecrets := Secrets{Portal: "Tmp=Pass+w0rd!", PortalKind: pbx.WelcomePassword, SIPSecret: "Sip5ecretSip5ecretSip5ecr", PIN: "480213"}
	provisioned := testRow()
	provisioned.ProvisioningFile = "acme/001565a1b2c3.cfg"
	provisioned.DID = ""
	unicode := testRow()
	unicode.Name = "Zoë Ångström-Łukasz"

	override := testSettings(t)
	override.Email.Subject = "{{.TENANT_NAME}} – Zugang für {{.NAME}}"
	override.Email.TextBody = "Hallo {{.NAME}}, Portal: {{.WEB_USER_NAME}} {{.WEB_INVITE_URL}} Telefon: {{.PHONE_USER_NAME}} / {{.PHONE_PASSWORD}} PIN {{.VM_PIN}} {{upper .TENANT_NAME}}\n"
	override.Email.HTMLBody = "<p>Hallo {{.NAME}}</p><p><a href=\"{{.WEB_INVITE_URL}}\">Passwort setzen</a></p><p>PIN {{.VM_PIN}}</p>"

	return []goldenEmail{
		{
			name: "invite", settings: testSettings(t), row: testRow(), secrets: inviteSecrets,
			subject: "Welcome to Acme Corp: your phone and portal access", toName: "Ann Lee",
			textHas: []string{"Hello Ann Lee,", "Extension: 100", "Direct number: +14155550100", "User name: acme-100",
				"https://portal.pbx.example/invite/tok_AbC-123", "valid for 72 hours", "SIP user name: 100-acme",
				"SIP password: Sip5ecretSip5ecretSip5ecr", "Voicemail PIN: 480213"},
			textHasNot: []string{"Temporary password", "sets itself up"},
			htmlHas:    []string{`<a href="https://portal.pbx.example/invite/tok_AbC-123">`, "<code>480213</code>"},
		},
		{
			name: "password", settings: testSettings(t), row: testRow(), secrets: passwordSecrets,
			subject: "Welcome to Acme Corp: your phone and portal access", toName: "Ann Lee",
			textHas:    []string{"Temporary password: Tmp=Pass+w0rd!", "choose a new password", "https://portal.pbx.example"},
			textHasNot: []string{"/invite/"},
			htmlHas:    []string{"Tmp=Pass&#43;w0rd!"},
		},
		{
			name: "provisioned", settings: testSettings(t), row: provisioned, secrets: inviteSecrets,
			subject: "Welcome to Acme Corp: your phone and portal access", toName: "Ann Lee",
			textHas:    []string{"SIP password: " + phoneConfiguredSentence, "sets itself up"},
			textHasNot: []string{"Sip5ecret", "Direct number"},
			htmlHas:    []string{"configured automatically"},
		},
		{
			name: "override", settings: override, row: testRow(), secrets: inviteSecrets,
			subject: "Acme Corp – Zugang für Ann Lee", toName: "Ann Lee",
			textHas: []string{"Hallo Ann Lee, Portal: acme-100 https://portal.pbx.example/invite/tok_AbC-123", "PIN 480213", "ACME CORP"},
			htmlHas: []string{`<a href="https://portal.pbx.example/invite/tok_AbC-123">Passwort setzen</a>`},
		},
		{
			name: "unicode-name", settings: testSettings(t), row: unicode, secrets: inviteSecrets,
			subject: "Welcome to Acme Corp: your phone and portal access", toName: "Zoë Ångström-Łukasz",
			textHas: []string{"Hello Zoë Ångström-Łukasz,"},
			htmlHas: []string{"Hello Zoë Ångström-Łukasz,"},
		},
	}
}

func TestGoldenEmails(t *testing.T) {
	for _, tc := range goldenEmails(t) {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := render(t, tc.settings, tc.row, tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			checkGoldenEmail(t, tc, raw)
		})
	}
}

// checkGoldenEmail compares raw with its golden file and checks its lines,
// headers and parts.
func checkGoldenEmail(t *testing.T, tc goldenEmail, raw []byte) {
	t.Helper()
	golden(t, tc.name, raw)
	for _, line := range strings.SplitAfter(string(raw), "\n") {
		if strings.HasSuffix(line, "\n") && !strings.HasSuffix(line, "\r\n") {
			t.Fatalf("bare LF in %q", line)
		}
		if len(line) > 998 {
			t.Fatalf("line longer than 998 bytes")
		}
	}
	p := parseRaw(t, raw)
	if p.subject != tc.subject {
		t.Errorf("subject = %q, want %q", p.subject, tc.subject)
	}
	if p.to.Name != tc.toName || p.to.Address != tc.row.Email {
		t.Errorf("To = %+v, want %s <%s>", p.to, tc.toName, tc.row.Email)
	}
	if p.from.Address != "onboarding@pbx.example" || p.from.Name != "PBX Onboarding" {
		t.Errorf("From = %+v", p.from)
	}
	if got := p.header.Get("Message-ID"); got != "<"+seedHash("message-id", "acme|acme-100|j0123456789abcdef0123")+"@pbx.example>" {
		t.Errorf("Message-ID = %s", got)
	}
	for _, s := range tc.textHas {
		if !strings.Contains(p.text, s) {
			t.Errorf("text part lacks %q:\n%s", s, p.text)
		}
	}
	for _, s := range tc.textHasNot {
		if strings.Contains(p.text, s) || strings.Contains(p.html, s) {
			t.Errorf("email contains %q", s)
		}
	}
	for _, s := range tc.htmlHas {
		if !strings.Contains(p.html, s) {
			t.Errorf("HTML part lacks %q:\n%s", s, p.html)
		}
	}
}

func TestRawIsDeterministicPerSeed(t *testing.T) {
	sec := Secrets{Portal: "t", PortalKind: pbx.WelcomeInvite, SIPSecret: "x", PIN: "1"}
	a, err := render(t, testSettings(t), testRow(), sec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := render(t, testSettings(t), testRow(), sec)
	if !bytes.Equal(a, b) {
		t.Fatal("same input rendered differently")
	}
	other := testRow()
	other.User = "acme-101"
	c, _ := render(t, testSettings(t), other, sec)
	if parseRaw(t, a).header.Get("Message-ID") == parseRaw(t, c).header.Get("Message-ID") {
		t.Fatal("two users share a Message-ID")
	}
}

func TestHTMLEscapesNames(t *testing.T) {
	row := testRow()
	row.Name = `<script>alert("x")</script>`
	raw, err := render(t, testSettings(t), row, Secrets{Portal: "t", PortalKind: pbx.WelcomeInvite, SIPSecret: "x", PIN: "1"})
	if err != nil {
		t.Fatal(err)
	}
	p := parseRaw(t, raw)
	if strings.Contains(p.html, "<script>") {
		t.Fatalf("HTML part carries the script tag unescaped:\n%s", p.html)
	}
	if !strings.Contains(p.html, "&lt;script&gt;") {
		t.Fatalf("HTML part lacks the escaped name:\n%s", p.html)
	}
	if !strings.Contains(p.text, `<script>alert("x")</script>`) {
		t.Fatal("the text part should show the name as written")
	}
}

func TestHeaderInjectionRejected(t *testing.T) {
	sec := Secrets{Portal: "t", PortalKind: pbx.WelcomeInvite, SIPSecret: "x", PIN: "1"}
	cases := map[string]func(s *pbx.Settings, r *events.RowResult){
		"CRLF in name":         func(_ *pbx.Settings, r *events.RowResult) { r.Name = "Ann\r\nBcc: x@y.example" },
		"LF in name":           func(_ *pbx.Settings, r *events.RowResult) { r.Name = "Ann\nLee" },
		"CRLF Bcc in email":    func(_ *pbx.Settings, r *events.RowResult) { r.Email = "a@b.c\r\nBcc: x@y" },
		"two addresses":        func(_ *pbx.Settings, r *events.RowResult) { r.Email = "a@b.c, x@y.example" },
		"display name in mail": func(_ *pbx.Settings, r *events.RowResult) { r.Email = "Eve <x@y.example>" },
		"not an address":       func(_ *pbx.Settings, r *events.RowResult) { r.Email = "nobody" },
		"CRLF in subject":      func(s *pbx.Settings, _ *events.RowResult) { s.Email.Subject = "Hi\r\nBcc: x@y {{.NAME}}" },
		"NAME with CR in subject": func(s *pbx.Settings, r *events.RowResult) {
			s.Email.Subject = "Hi {{.NAME}}"
			r.Name = "Ann\rBcc: x@y"
		},
		"unicode line separator in subject": func(s *pbx.Settings, _ *events.RowResult) { s.Email.Subject = "Hi\u2028Bcc: x@y" },
		"CRLF in from":                      func(s *pbx.Settings, _ *events.RowResult) { s.Email.From = "a@b.c\r\nBcc: x@y" },
		"no from":                           func(s *pbx.Settings, _ *events.RowResult) { s.Email.From = "" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			s := testSettings(t)
			row := testRow()
			mutate(&s, &row)
			raw, err := render(t, s, row, sec)
			if err == nil {
				t.Fatalf("accepted; message:\n%s", raw)
			}
			if pbx.ErrorCode(err) != pbx.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}
	// Message.Raw checks again, whoever built the Message.
	m := Message{From: &mail.Address{Address: "a@b.c"}, To: &mail.Address{Name: "x\r\nBcc: y@z", Address: "a@b.c"},
		Content: Content{Subject: "s", Text: "t", HTML: "h"}}
	if _, err := m.Raw(); err == nil {
		t.Fatal("Raw accepted a CR/LF display name")
	}
	m.To.Name, m.Content.Subject = "x", "s\nBcc: y@z"
	if _, err := m.Raw(); err == nil {
		t.Fatal("Raw accepted a CR/LF subject")
	}
}

func TestCheckTag(t *testing.T) {
	for _, v := range []string{"acme", "j0123abc", "welcome", "A_b-9"} {
		if err := checkTag("tag", v); err != nil {
			t.Errorf("%q: %v", v, err)
		}
	}
	for _, v := range []string{"", "a b", "a\r\nb", "a=b", "ä", strings.Repeat("a", 257)} {
		if err := checkTag("tag", v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestValidateOverrides(t *testing.T) {
	cases := []struct {
		name    string
		email   pbx.Email
		code    string
		field   string
		mention string
	}{
		{name: "defaults", email: pbx.Email{}},
		{name: "good subject", email: pbx.Email{Subject: "Hi {{.NAME}} ({{.EXTENSION}})"}},
		{name: "good bodies", email: pbx.Email{TextBody: "{{if .WEB_INVITE_URL}}{{.WEB_INVITE_URL}}{{else}}{{.WEB_PASSWORD}}{{end}} {{lower .NAME}}", HTMLBody: "<b>{{.VM_PIN}}</b> {{$.PHONE_USER_NAME}}"}},
		{name: "unknown in subject", email: pbx.Email{Subject: "Hi {{.FOO}}"}, code: pbx.EINVALID, field: "email.subject", mention: "{{.FOO}}"},
		{name: "unknown in text", email: pbx.Email{TextBody: "{{if .DID}}{{.PASSWORD}}{{end}}"}, code: pbx.EINVALID, field: "email.text_body", mention: "{{.PASSWORD}}"},
		{name: "unknown in html", email: pbx.Email{HTMLBody: "<p>{{.SIP_SECRET}}</p>"}, code: pbx.EINVALID, field: "email.html_body", mention: "{{.SIP_SECRET}}"},
		{name: "unknown via $", email: pbx.Email{TextBody: "{{$.NOPE}}"}, code: pbx.EINVALID, field: "email.text_body", mention: "{{.NOPE}}"},
		{name: "unknown function", email: pbx.Email{TextBody: "{{shout .NAME}}"}, code: pbx.EINVALID, field: "email.text_body", mention: "shout"},
		{name: "syntax", email: pbx.Email{HTMLBody: "{{if .NAME}}"}, code: pbx.EINVALID, field: "email.html_body", mention: "parse"},
		{name: "subject line break", email: pbx.Email{Subject: "a\nb"}, code: pbx.EINVALID, field: "subject"},
		{name: "empty rendered subject", email: pbx.Email{Subject: "{{if false}}x{{end}}"}, code: pbx.EINVALID, field: "subject"},
		{name: "too long", email: pbx.Email{TextBody: strings.Repeat("x", maxBodyTemplate+1)}, code: pbx.ELIMIT, field: "email.text_body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateOverrides(tc.email)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *pbx.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *pbx.Error", err)
			}
			if e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("err = %v (code %s field %s), want code %s field %s", err, e.Code, e.Field, tc.code, tc.field)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.mention)
			}
		})
	}
}

func TestVariableNames(t *testing.T) {
	want := []string{"DID", "EMAIL", "EXTENSION", "INVITE_VALID_HOURS", "NAME", "PHONE_PASSWORD", "PHONE_PROVISIONED",
		"PHONE_USER_NAME", "PORTAL_URL", "TENANT_NAME", "VM_PIN", "WEB_INVITE_URL", "WEB_PASSWORD", "WEB_USER_NAME"}
	if got := VariableNames(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("VariableNames = %v", got)
	}
}

func TestBuildVarsSIPSecretDecision(t *testing.T) {
	sec := Secrets{Portal: "t", PortalKind: pbx.WelcomeInvite, SIPSecret: "the-secret", PIN: "1"}
	provisioned := testRow()
	provisioned.ProvisioningFile = "acme/x.cfg"
	forced := testSettings(t)
	forced.Email.IncludeSIPSecret = true
	noPortal := testSettings(t)
	noPortal.Email.PortalURL = ""
	for _, tc := range []struct {
		name     string
		settings pbx.Settings
		row      events.RowResult
		want     string
		wantErr  bool
	}{
		{"no phone: secret included", testSettings(t), testRow(), "the-secret", false},
		{"provisioned phone: withheld", testSettings(t), provisioned, phoneConfiguredSentence, false},
		{"provisioned, forced by settings", forced, provisioned, "the-secret", false},
		{"invite without portal URL", noPortal, testRow(), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := BuildVars(tc.settings, "acme", tc.row, sec)
			if tc.wantErr {
				if pbx.ErrorCode(err) != pbx.EINVALID {
					t.Fatalf("err = %v, want EINVALID", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v.PhonePassword != tc.want {
				t.Fatalf("PHONE_PASSWORD = %q, want %q", v.PhonePassword, tc.want)
			}
		})
	}
}

func TestOverridesThatCannotEndAreRefused(t *testing.T) {
	for name, e := range map[string]pbx.Email{
		"range over a number": {TextBody: "{{range 2000000}}AAAAAAAAAA{{end}}"},
		"nested ranges":       {HTMLBody: "{{range 100000}}{{range 100000}}{{end}}{{end}}"},
		"template fan-out":    {TextBody: `{{define "a"}}{{template "b" .}}{{template "b" .}}{{end}}{{define "b"}}x{{end}}{{template "a" .}}`},
	} {
		err := ValidateOverrides(e)
		if pbx.ErrorCode(err) != pbx.EINVALID || !strings.Contains(pbx.ErrorMessage(err), "not allowed") {
			t.Errorf("%s: %v, want EINVALID not allowed", name, err)
		}
	}
}

func TestRenderedOutputIsBounded(t *testing.T) {
	big := strings.Repeat("{{.PHONE_PASSWORD}}", 12000) // 24 chars × 12,000 ≈ 288 KB > 256 KiB
	err := ValidateOverrides(pbx.Email{TextBody: big})
	var pe *pbx.Error
	if !errors.As(err, &pe) || pe.Code != pbx.ELIMIT || pe.Field != "email.text_body" {
		t.Fatalf("oversize output: %v, want ELIMIT on email.text_body", err)
	}
	if err := ValidateOverrides(pbx.Email{TextBody: strings.Repeat("{{.NAME}}", 1000)}); err != nil {
		t.Fatalf("a long but bounded body: %v", err)
	}
}

func TestSampleVarsAreTheTenants(t *testing.T) {
	s := pbx.SystemDefaults()
	s.TenantDisplayName = "Acme Corp"
	s.Email.PortalURL = "https://portal.acme.example/"
	s.Email.InviteTTLHours = 48
	v := SampleVars(s, "acme", pbx.WelcomeInvite)
	if v.TenantName != "Acme Corp" || v.InviteValidHours != 48 || !strings.HasPrefix(v.InviteURL, "https://portal.acme.example/invite/") || v.WebUserName != "acme-100" {
		t.Fatalf("invite sample: %+v", v)
	}
	if p := SampleVars(s, "acme", pbx.WelcomePassword); p.WebPassword == "" || p.InviteURL != "" {
		t.Fatalf("password sample: %+v", p)
	}
}
