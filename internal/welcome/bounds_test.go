package welcome

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// TestTemplateBoundsOnSave (issue #17): tenant beta's templates that loop
// or multiply output are refused when saved, with the field named.
func TestTemplateBoundsOnSave(t *testing.T) {
	for name, tc := range map[string]struct {
		e     pbx.Email
		field string
	}{
		"range over an int (the audit's 20 MB message)": {pbx.Email{TextBody: "{{range 2000000}}AAAAAAAAAA{{end}}"}, "email.text_body"},
		"nested range":                   {pbx.Email{HTMLBody: "{{range 1000}}{{range 1000}}x{{end}}{{end}}"}, "email.html_body"},
		"range with break":               {pbx.Email{TextBody: "{{range 10}}{{break}}{{end}}"}, "email.text_body"},
		"range in the subject":           {pbx.Email{Subject: "{{range 5}}Welcome {{end}}"}, "email.subject"},
		"range inside if":                {pbx.Email{TextBody: "{{if .NAME}}{{range 9}}x{{end}}{{end}}"}, "email.text_body"},
		"define and template doubling":   {pbx.Email{TextBody: `{{define "a"}}xx{{end}}{{define "b"}}{{template "a"}}{{template "a"}}{{end}}{{template "b"}}`}, "email.text_body"},
		"block":                          {pbx.Email{HTMLBody: `{{block "x" .}}hi{{end}}`}, "email.html_body"},
		"printf width bomb (size bound)": {pbx.Email{TextBody: strings.Repeat(`{{printf "%999999d" 1}}`, 300)}, "email.text_body"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ValidateOverrides(tc.e)
			var e *pbx.Error
			if err == nil || !asError(err, &e) || e.Field != tc.field {
				t.Fatalf("ValidateOverrides = %v, want an error on %s", err, tc.field)
			}
		})
	}
	// Ordinary templates still pass, conditionals included.
	ok := pbx.Email{Subject: "Welcome, {{.NAME}}", TextBody: "Hi {{.NAME}}{{if .DID}}, your number is {{.DID}}{{end}}.\n{{with .WEB_INVITE_URL}}{{.}}{{end}}"}
	if err := ValidateOverrides(ok); err != nil {
		t.Fatal(err)
	}
}

// TestTemplateBoundsAtSend: templates stored before the rule (or by hand)
// are bounded when the email is rendered: parsing refuses loops, and
// rendering stops at the size bound instead of building the message.
func TestTemplateBoundsAtSend(t *testing.T) {
	if _, err := ParseTemplates(pbx.Email{TextBody: "{{range 2000000}}AAAAAAAAAA{{end}}"}); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("parse at send: %v", err)
	}
	tpl, err := ParseTemplates(pbx.Email{HTMLBody: strings.Repeat(`{{printf "%999999d" 1}}`, 300)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(sampleVars()[0])
	if pbx.ErrorCode(err) != pbx.ELIMIT || !strings.Contains(err.Error(), "email.html_body") {
		t.Errorf("render: %v, want ELIMIT on email.html_body", err)
	}
	b := &boundedBuffer{field: "email.text_body", max: 10, deadline: deadlineInPast()}
	if _, err := b.Write([]byte("x")); err == nil || !strings.Contains(renderError(b, err).Error(), "longer than") {
		t.Errorf("deadline not enforced: %v", err)
	}
}

func asError(err error, target **pbx.Error) bool { return errors.As(err, target) }

func deadlineInPast() time.Time { return time.Now().Add(-time.Second) }

// TestTemplateFaultOrder: one walk finds both faults of a template, and the
// error keeps the order the portal's save has always shown: an unknown
// variable (in any part) before an unbounded action.
func TestTemplateFaultOrder(t *testing.T) {
	for name, tc := range map[string]struct {
		e              pbx.Email
		field, mention string
	}{
		"both in one part":               {pbx.Email{TextBody: "{{range 5}}{{.NOPE}}{{end}}"}, "email.text_body", "unknown variable {{.NOPE}}"},
		"variable after the loop":        {pbx.Email{HTMLBody: "{{range 5}}x{{end}}{{.NOPE}}"}, "email.html_body", "unknown variable {{.NOPE}}"},
		"loop in an earlier part":        {pbx.Email{Subject: "{{range 5}}Hi{{end}}", TextBody: "{{.NOPE}}"}, "email.text_body", "unknown variable {{.NOPE}}"},
		"first unbounded action named":   {pbx.Email{TextBody: "{{range 3}}{{range 3}}{{break}}{{end}}{{end}}"}, "email.text_body", "{{range}} is not allowed"},
		"define before its loop":         {pbx.Email{TextBody: `{{define "a"}}{{range 3}}x{{end}}{{end}}{{template "a"}}`}, "email.text_body", "{{define}} and {{block}} are not allowed"},
		"variable in a defined template": {pbx.Email{TextBody: `{{define "a"}}{{.NOPE}}{{end}}{{template "a"}}`}, "email.text_body", "unknown variable {{.NOPE}}"},
		"first part's loop first":        {pbx.Email{Subject: "{{range 5}}Hi{{end}}", HTMLBody: "{{template \"x\"}}"}, "email.subject", "{{range}} is not allowed"},
	} {
		t.Run(name, func(t *testing.T) {
			err := ValidateOverrides(tc.e)
			var e *pbx.Error
			if !asError(err, &e) || e.Code != pbx.EINVALID || e.Field != tc.field || !strings.Contains(e.Message, tc.mention) {
				t.Fatalf("ValidateOverrides = %v, want EINVALID on %s mentioning %q", err, tc.field, tc.mention)
			}
		})
	}
}
