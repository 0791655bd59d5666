package ingest

import (
	"slices"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// TestPhoneModelRows: the row's phone_model is validated against the
// supported models (an unknown one fails the row and lists them), a row
// with a model needs no tenant default, and a model of a family the tenant
// does not provision is a warning with the user still created.
func TestPhoneModelRows(t *testing.T) {
	known := func(m string) bool { return pbx.PhoneFamily(m) != "" }
	tests := []struct {
		name, row string
		settings  []string
		errs      []string
		warns     []string
		mac       string
	}{
		{name: "row model without tenant default", row: "100,Ann,,,,,00:15:65:aa:bb:cc,,snom-d785",
			settings: []string{`{"provisioning": {"default_phone_model": ""}}`}, mac: "001565aabbcc"},
		{name: "unknown model lists the models", row: "100,Ann,,,,,00:15:65:aa:bb:cc,,acme-9000",
			errs: []string{"phone_model invalid_phone_model"}},
		{name: "family not provisioned", row: "100,Ann,,,,,00:15:65:aa:bb:cc,,fanvil-x6u",
			settings: []string{`{"provisioning": {"families": ["yealink", "polycom"]}}`},
			warns:    []string{"phone_model mac_ignored"}, mac: "001565aabbcc"},
		{name: "default model's family not provisioned", row: "100,Ann,,,,,00:15:65:aa:bb:cc",
			settings: []string{`{"provisioning": {"families": ["snom"]}}`},
			warns:    []string{"phone_model mac_ignored"}, mac: "001565aabbcc"},
		{name: "listed family", row: "100,Ann,,,,,00:15:65:aa:bb:cc,,snom-d735",
			settings: []string{`{"provisioning": {"families": ["snom"]}}`}, mac: "001565aabbcc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := validate(t, header+tt.row+"\n", Input{Settings: localSettings(t, tt.settings...), KnownPhoneModel: known})
			if got := issuesNoLine(res.report.Errors); !slices.Equal(got, tt.errs) {
				t.Errorf("errors = %q, want %q", got, tt.errs)
			}
			if got := issuesNoLine(res.report.Warnings); !slices.Equal(got, tt.warns) {
				t.Errorf("warnings = %q, want %q", got, tt.warns)
			}
			if len(tt.errs) > 0 {
				msg := res.report.Errors[0].Message
				if !strings.Contains(msg, `"acme-9000"`) || !strings.Contains(msg, strings.Join(pbx.PhoneModels(), ", ")) {
					t.Errorf("message %q does not list the models", msg)
				}
				return
			}
			if len(res.rows) != 1 || res.rows[0].MAC != tt.mac {
				t.Errorf("rows = %+v, want one with MAC %s", res.rows, tt.mac)
			}
		})
	}
	// Build, on the same settings, creates the user without the device.
	s := localSettings(t, `{"provisioning": {"families": ["yealink"]}}`)
	o, err := pbx.Build("acme", s, pbx.UserRow{Line: 2, Extension: "100", FirstName: "Ann", MAC: "001565aabbcc", PhoneModel: "fanvil-x6u"})
	if err != nil || o.Endpoint.Device != nil || len(o.Warnings) != 1 || !strings.Contains(o.Warnings[0], "does not provision fanvil phones") {
		t.Errorf("Build = %+v, %v", o, err)
	}
}
