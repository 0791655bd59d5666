package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

func localSettings(t testing.TB, overrides ...string) pbx.Settings {
	t.Helper()
	layers := [][]byte{pbx.LocalTenantOverrides("acme")}
	for _, o := range overrides {
		layers = append(layers, []byte(o))
	}
	s, err := pbx.Merge(pbx.SystemDefaults(), layers...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// result is everything Validate produced.
type result struct {
	report   *Report
	rows     []pbx.UserRow
	rejected []events.RowResult
}

func validate(t testing.TB, csv string, in Input) result {
	t.Helper()
	var res result
	if in.Tenant == "" {
		in.Tenant = "acme"
	}
	if in.Settings.MaxRows == 0 {
		in.Settings = localSettings(t)
	}
	in.Rows = func(r pbx.UserRow) error { res.rows = append(res.rows, r); return nil }
	in.Rejected = func(r events.RowResult) error { res.rejected = append(res.rejected, r); return nil }
	rep, err := Validate(context.Background(), strings.NewReader(csv), in)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	res.report = rep
	return res
}

func readExample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// issues formats issues as "line column code" for compact comparison.
func issues(list []Issue) []string {
	out := make([]string, len(list))
	for i, is := range list {
		out[i] = fmt.Sprintf("%d %s %s", is.Line, is.Column, is.Code)
	}
	return out
}

func TestExamples(t *testing.T) {
	t.Run("acme-users", testExampleAcmeUsers)
	t.Run("excel-semicolon", testExampleExcelSemicolon)
	t.Run("with-errors", testExampleWithErrors)
}

func testExampleAcmeUsers(t *testing.T) {
	res := validate(t, readExample(t, "acme-users.csv"), Input{})
	if res.report.Valid != 6 || res.report.Rows != 6 || len(res.report.Errors) != 0 {
		t.Fatalf("report = %+v", res.report)
	}
	var dids, macs []string
	for _, r := range res.rows {
		if r.DID != "" {
			dids = append(dids, r.DID)
		}
		if r.MAC != "" {
			macs = append(macs, r.MAC)
		}
	}
	if want := []string{"+14155550100", "+14155550102", "+14155550105"}; !slices.Equal(dids, want) {
		t.Errorf("DIDs = %v, want %v", dids, want)
	}
	if want := []string{"001565a1b2c3", "001565a1b2c4", "001565a1b2c5", "001565a1b2c6"}; !slices.Equal(macs, want) {
		t.Errorf("MACs = %v, want %v", macs, want)
	}
	if r := res.rows[1]; r.Mobile != "+14155550101" || r.Line != 3 {
		t.Errorf("row 2 = %+v", r)
	}
	if r := res.rows[2]; r.FirstName != "Chloé" {
		t.Errorf("name = %q", r.FirstName)
	}
}

func testExampleExcelSemicolon(t *testing.T) {
	res := validate(t, readExample(t, "excel-semicolon.csv"), Input{})
	if res.report.Valid != 4 || res.report.Rows != 4 || len(res.report.Errors) != 0 {
		t.Fatalf("report = %+v", res.report)
	}
	var names []string
	for _, r := range res.rows {
		names = append(names, r.DisplayName())
	}
	if want := []string{"Jürgen Groß", "Ana Sousa", "Marie; Claire Dubois", "Pål Østby"}; !slices.Equal(names, want) {
		t.Errorf("names = %q, want %q", names, want)
	}
	if lines := []int{res.rows[0].Line, res.rows[3].Line}; !slices.Equal(lines, []int{2, 6}) {
		t.Errorf("lines = %v", lines)
	}
	if res.report.Encoding != "utf-8-bom" || res.report.Delimiter != ";" {
		t.Errorf("encoding %s delimiter %s", res.report.Encoding, res.report.Delimiter)
	}
}

func testExampleWithErrors(t *testing.T) {
	res := validate(t, readExample(t, "with-errors.csv"), Input{})
	want := []string{
		"3 email invalid_email",
		"4 extension duplicate_in_file",
		"5 extension invalid_extension",
		"6 first_name required",
		"7 did excel_mangled_number",
		"8 mac invalid_mac",
		"9 mac invalid_mac",
		"10 email duplicate_in_file",
	}
	if got := issues(res.report.Errors); !slices.Equal(got, want) {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.rows) != 1 || res.rows[0].Line != 2 || res.report.Valid != 1 || res.report.Invalid != 8 {
		t.Errorf("valid rows = %+v, report %+v", res.rows, res.report)
	}
	msgs := map[int]string{}
	for _, e := range res.report.Errors {
		msgs[e.Line] = e.Message
	}
	for line, sub := range map[int]string{
		4:  "extension 300 is already on line 2",
		7:  "looks like Excel turned the number into 1.41555E+10",
		10: "email gail.ng@acme.example is already on line 2",
	} {
		if !strings.Contains(msgs[line], sub) {
			t.Errorf("line %d message %q lacks %q", line, msgs[line], sub)
		}
	}
	if len(res.rejected) != 8 || res.rejected[0].Line != 3 || res.rejected[0].Status != events.StatusInvalid || res.rejected[0].Code != pbx.CodeInvalidEmail {
		t.Errorf("rejected = %+v", res.rejected)
	}
}

func TestGoldenReports(t *testing.T) {
	for _, name := range []string{"acme-users", "excel-semicolon", "with-errors"} {
		t.Run(name, func(t *testing.T) {
			res := validate(t, readExample(t, name+".csv"), Input{})
			var js, csv strings.Builder
			if err := res.report.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if err := res.report.WriteCSV(&csv); err != nil {
				t.Fatal(err)
			}
			golden(t, name+".validation.json.golden", js.String())
			golden(t, name+".validation.csv.golden", csv.String())
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	testkit.Golden(t, filepath.Join("testdata", name), []byte(got))
}

const header = "extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department\n"

// TestRowRules is one table of single-row cases, field by field: it reads
// better whole than split.
func TestRowRules(t *testing.T) {
	tests := []struct {
		name     string
		row      string // after the canonical header
		settings []string
		errs     []string // "column code"
		warns    []string
		check    func(t *testing.T, r pbx.UserRow)
	}{
		{name: "minimal valid", row: "100,Ann"},
		{name: "last name alone", row: "100,,Lee"},
		{name: "extension required", row: ",Ann", errs: []string{"extension required"}},
		{name: "extension digits", row: "1O0,Ann", errs: []string{"extension invalid_extension"}},
		{name: "extension too short", row: "1,Ann", errs: []string{"extension invalid_extension"}},
		{name: "extension too long", row: "1234567,Ann", errs: []string{"extension invalid_extension"}},
		{name: "extension length from settings", row: "1234567,Ann", settings: []string{`{"extension_max_len": 7}`}},
		{name: "reserved extension", row: "911,Ann", errs: []string{"extension reserved_extension"}},
		{name: "no name", row: "100, , ", errs: []string{"first_name required"}},
		{name: "names trimmed, unicode kept", row: "100,  Zoë  , Ōtani ", check: func(t *testing.T, r pbx.UserRow) {
			if r.FirstName != "Zoë" || r.LastName != "Ōtani" {
				t.Errorf("names %q %q", r.FirstName, r.LastName)
			}
		}},
		{name: "name too long", row: "100," + strings.Repeat("n", 65), errs: []string{"first_name invalid_name"}},
		{name: "control character", row: "100,\"An\nn\"", errs: []string{"first_name control_character"}},
		{name: "C1 control character", row: "100,An\u0085n", errs: []string{"first_name control_character"}},
		{name: "replacement character", row: "100,An\uFFFDn", errs: []string{"first_name invalid_encoding"}},
		{name: "email display name", row: "100,Ann,,Ann <ann@acme.example>", errs: []string{"email invalid_email"}},
		{name: "email no domain dot", row: "100,Ann,,ann@acme", errs: []string{"email invalid_email"}},
		{name: "email with CRLF", row: "100,Ann,,\"ann@acme.example\r\nBcc: x@y.z\"", errs: []string{"email control_character"}},
		{name: "email valid", row: "100,Ann,,Ann.Lee+pbx@Acme.Example", check: func(t *testing.T, r pbx.UserRow) {
			if r.Email != "Ann.Lee+pbx@Acme.Example" {
				t.Errorf("email %q", r.Email)
			}
		}},
		{name: "phones normalized", row: "100,Ann,,,(415) 555-0101,415.555.0100", check: func(t *testing.T, r pbx.UserRow) {
			if r.Mobile != "+14155550101" || r.DID != "+14155550100" {
				t.Errorf("mobile %q did %q", r.Mobile, r.DID)
			}
		}},
		{name: "region from settings", row: "100,Ann,,,030 901820", settings: []string{`{"default_region": "DE"}`}, check: func(t *testing.T, r pbx.UserRow) {
			if r.Mobile != "+4930901820" {
				t.Errorf("mobile %q", r.Mobile)
			}
		}},
		{name: "mobile mangled by Excel", row: "100,Ann,,,4.15555E+09", errs: []string{"mobile excel_mangled_number"}},
		{name: "invalid DID", row: "100,Ann,,,,12345", errs: []string{"did invalid_phone"}},
		{name: "MAC normalized", row: "100,Ann,,,,,0015.65AA.BBCC", check: func(t *testing.T, r pbx.UserRow) {
			if r.MAC != "001565aabbcc" {
				t.Errorf("mac %q", r.MAC)
			}
		}},
		{name: "broadcast MAC", row: "100,Ann,,,,,ff:ff:ff:ff:ff:ff", errs: []string{"mac invalid_mac"}},
		{name: "multicast MAC", row: "100,Ann,,,,,01:00:5e:00:00:01", errs: []string{"mac invalid_mac"}},
		{name: "MAC ignored without provisioning", row: "100,Ann,,,,,00:15:65:aa:bb:cc", settings: []string{`{"provisioning": {"enabled": false}}`},
			warns: []string{"mac mac_ignored"}, check: func(t *testing.T, r pbx.UserRow) {
				if r.MAC != "" {
					t.Errorf("mac %q not dropped", r.MAC)
				}
			}},
		{name: "MAC ignored without default model", row: "100,Ann,,,,,00:15:65:aa:bb:cc", settings: []string{`{"provisioning": {"default_phone_model": ""}}`},
			warns: []string{"mac mac_ignored"}},
		{name: "phone model lowercased", row: "100,Ann,,,,,,,Yealink-T54W", check: func(t *testing.T, r pbx.UserRow) {
			if r.PhoneModel != "yealink-t54w" {
				t.Errorf("model %q", r.PhoneModel)
			}
		}},
		{name: "phone model unknown", row: "100,Ann,,,,,,,yealink t54w!", errs: []string{"phone_model invalid_phone_model"}},
		// The caller ID's number is normalized to E.164 (issue #17: it is
		// then checked against the tenant's numbers); a name alone is no
		// caller ID.
		{name: "caller id without a number", row: "100,Ann,,,,,,Front Desk,,Sales", errs: []string{"caller_id invalid_phone"}},
		{name: "caller id 911", row: "100,Ann,,,,,,Help <911>,,Sales", errs: []string{"caller_id caller_id_not_allowed"}},
		{name: "caller id and department kept", row: "100,Ann,,,,,,Front Desk <(415) 555-0100>,,Sales", check: func(t *testing.T, r pbx.UserRow) {
			if r.CallerID != "Front Desk <+14155550100>" || r.Department != "Sales" {
				t.Errorf("row %+v", r)
			}
		}},
		{name: "all errors at once", row: "x,,,bad,1E+10,2E+10,zz", errs: []string{
			"extension invalid_extension", "first_name required", "email invalid_email",
			"mobile excel_mangled_number", "did excel_mangled_number", "mac invalid_mac"}},
		{name: "extra cells warned", row: "100,Ann,,,,,,,,,surplus", warns: []string{" unknown_column"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := validate(t, header+tt.row+"\n", Input{Settings: localSettings(t, tt.settings...)})
			if got := issuesNoLine(res.report.Errors); !slices.Equal(got, tt.errs) {
				t.Errorf("errors = %q, want %q (%+v)", got, tt.errs, res.report.Errors)
			}
			if got := issuesNoLine(res.report.Warnings); !slices.Equal(got, tt.warns) {
				t.Errorf("warnings = %q, want %q", got, tt.warns)
			}
			if len(tt.errs) == 0 && len(res.rows) != 1 {
				t.Fatalf("valid row not passed on: %+v", res.report)
			}
			if tt.check != nil {
				tt.check(t, res.rows[0])
			}
		})
	}
}

func issuesNoLine(list []Issue) []string {
	var out []string
	for _, is := range list {
		out = append(out, is.Column+" "+is.Code)
	}
	return out
}

func TestDuplicates(t *testing.T) {
	csv := header +
		"100,Ann,,ann@acme.example,,+14155550100,00:15:65:aa:bb:01\n" +
		"101,Bo,,ANN@acme.example,,,\n" +
		"100,Cy,,,,,\n" +
		"102,Di,,,,(415) 555-0100,\n" +
		"103,Ed,,,,,001565AABB01\n" +
		"\"104\",\"F\ng\",,,,,\n" + // invalid: does not claim 104
		"104,Gu,,,,,\n"
	res := validate(t, csv, Input{})
	want := []string{
		"3 email duplicate_in_file", "4 extension duplicate_in_file", "5 did duplicate_in_file",
		"6 mac duplicate_in_file", "7 first_name control_character",
	}
	if got := issues(res.report.Errors); !slices.Equal(got, want) {
		t.Errorf("errors = %q, want %q", got, want)
	}
	if res.report.Valid != 2 || res.rows[1].Line != 9 {
		t.Errorf("valid rows = %+v", res.rows)
	}
}

func TestFileLevelErrors(t *testing.T) {
	tests := []struct {
		name, csv, settings string
		code                string
		line                int
	}{
		{"missing extension column", "name,email\nAnn,a@b.c\n", "", pbx.CodeMissingColumn, 1},
		{"empty", "", "", pbx.CodeNoHeader, 0},
		{"too many rows", header + "100,A\n101,B\n102,C\n", `{"max_rows": 2}`, pbx.CodeTooManyRows, 4},
		{"too large", header + strings.Repeat("100,A\n", 50), `{"max_object_bytes": 200}`, pbx.CodeFileTooLarge, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s pbx.Settings
			if tt.settings != "" {
				s = localSettings(t, tt.settings)
			}
			res := validate(t, tt.csv, Input{Settings: s})
			fe := res.report.FileError
			if fe == nil || fe.Code != tt.code || (tt.line != 0 && fe.Line != tt.line) {
				t.Fatalf("file error = %+v, want %s on line %d", fe, tt.code, tt.line)
			}
			if last := res.report.Errors[len(res.report.Errors)-1]; last != *fe {
				t.Errorf("file error not listed in Errors: %+v", res.report.Errors)
			}
		})
	}
	res := validate(t, "Extension,Office\n100\n", Input{})
	if got := issues(res.report.Warnings); !slices.Equal(got, []string{"1 Office unknown_column"}) {
		t.Errorf("warnings = %q", got)
	}
}

func TestRejectedRowsJSON(t *testing.T) {
	res := validate(t, header+"3a2,Jo,,jo@,,,\n", Input{})
	b, _ := json.Marshal(res.rejected)
	want := `[{"line":2,"extension":"3a2","name":"Jo","status":"invalid","code":"invalid_extension","message":"extension: extension \"3a2\" must be digits only; email: \"jo@\" is not a valid email address"}]`
	if string(b) != want {
		t.Errorf("rejected = %s\nwant %s", b, want)
	}
}
