package peers

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// readAll reads a file with the peers reader and returns its source and rows.
func readAll(t *testing.T, body string, opts Options) (*Source, []Row) {
	t.Helper()
	rd := NewReader(strings.NewReader(body), csvin.Limits{}, opts)
	src, _, err := rd.Header()
	if err != nil {
		t.Fatalf("Header: %v", err)
	}
	var rows []Row
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return src, rows
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		cp := *r
		cp.Notes = append([]Note(nil), r.Notes...)
		rows = append(rows, cp)
	}
}

func sample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSamplesDetected: each peer's sample is recognised as that peer's.
func TestSamplesDetected(t *testing.T) {
	want := map[string]string{
		"freepbx-extensions.csv":         "freepbx-extensions",
		"freepbx-dids.csv":               "freepbx-dids",
		"3cx-extensions.csv":             "3cx-extensions",
		"wazo-users.csv":                 "wazo-users",
		"kazoo-users.csv":                "kazoo-csv-onboarding",
		"kazoo-users-devices.csv":        "kazoo-csv-onboarding",
		"fusionpbx-extensions.csv":       "fusionpbx-extensions",
		"fusionpbx-devices.csv":          "fusionpbx-devices",
		"fspbx-extensions.csv":           "fspbx-extensions",
		"fspbx-template.csv":             "fspbx-extensions",
		"issabel-extensions.csv":         "issabel-extensions",
		"switchvox-extensions.csv":       "switchvox-extensions",
		"vodia-accounts.csv":             "vodia-accounts",
		"yeastar-pseries-extensions.csv": "yeastar-pseries-extensions",
	}
	files, _ := filepath.Glob("testdata/*.csv")
	if len(files) != len(want) {
		t.Fatalf("testdata has %d samples, the test knows %d", len(files), len(want))
	}
	for name, peer := range want {
		src, rows := readAll(t, sample(t, name), Options{})
		if src.Peer != peer {
			t.Errorf("%s: detected %q, want %q", name, src.Peer, peer)
		}
		if len(rows) == 0 {
			t.Errorf("%s: no rows", name)
		}
		if len(src.Columns) == 0 || !strings.HasPrefix(src.Mapping, peer+"/") {
			t.Errorf("%s: column report %+v", name, src)
		}
	}
}

// TestOwnTemplateNotAPeer: our template and common HR headers keep going
// through the alias table.
func TestOwnTemplateNotAPeer(t *testing.T) {
	for _, h := range []string{
		strings.Join(csvin.CanonicalHeader(), ","),
		"Ext,Given Name,Surname,E-Mail,Cell,Direct Dial,MAC Address",
		"Extension Number,First Name,Last Name,Email Address,Mobile Number,Caller ID",
		"First Name,Last Name,Ext,MAC Address,Department",
	} {
		if p, _ := Detect(strings.Split(h, ",")); p != nil {
			t.Errorf("%q detected as %s", h, p.ID)
		}
	}
}

func field(r Row, c csvin.Column) string { return r.Fields[c] }

func TestFreePBXExtensions(t *testing.T) {
	src, rows := readAll(t, sample(t, "freepbx-extensions.csv"), Options{})
	ann, bruno := rows[0], rows[1]
	if field(ann, csvin.FirstName) != "Ann" || field(ann, csvin.LastName) != "Lee" || field(ann, csvin.Email) != "ann.lee@example.com" {
		t.Errorf("Ann: %+v", ann.Fields)
	}
	if got := field(ann, csvin.CallerID); got != `"Ann Lee" <4155550101>` {
		t.Errorf("caller ID from outboundcid = %q (the device callerid must not land here)", got)
	}
	if field(bruno, csvin.FirstName) != "Bruno" || field(bruno, csvin.LastName) != "Diaz" {
		t.Errorf(`"Diaz, Bruno" split as %q %q`, field(bruno, csvin.FirstName), field(bruno, csvin.LastName))
	}
	if field(bruno, csvin.Email) != "bruno.diaz@example.com" || len(bruno.Notes) != 1 || bruno.Notes[0].Code != pbx.CodeMultipleValues {
		t.Errorf("two voicemail emails: %q %+v", field(bruno, csvin.Email), bruno.Notes)
	}
	for _, r := range rows[3:] {
		if r.Skip == nil || r.Skip.Code != pbx.CodeNotSIPUser {
			t.Errorf("line %d (virtual/custom) not skipped: %+v", r.Line, r.Skip)
		}
	}
	// Secrets: ignored by default, and no row carries them.
	for _, c := range src.Columns {
		if (c.Column == "secret" || c.Column == "voicemail_vmpwd") && c.Field != Ignored {
			t.Errorf("%s fed %s without import-secrets", c.Column, c.Field)
		}
		if c.Column == "callerid" && c.Field != Ignored {
			t.Errorf("callerid fed %s", c.Field)
		}
	}
	if ann.SIPSecret != "" || ann.PIN != "" {
		t.Error("secrets mapped without import-secrets")
	}
	_, rows = readAll(t, sample(t, "freepbx-extensions.csv"), Options{ImportSecrets: true})
	if rows[0].SIPSecret != "FPX-sip-9f8e7d6c5b4a3928" || rows[0].PIN != "482713" {
		t.Errorf("import-secrets: secret %q pin %q", rows[0].SIPSecret, rows[0].PIN)
	}
}

func TestFreePBXDIDs(t *testing.T) {
	src, rows := readAll(t, sample(t, "freepbx-dids.csv"), Options{})
	if src.Kind != KindDIDRoutes {
		t.Fatalf("kind %s", src.Kind)
	}
	if field(rows[0], csvin.DID) != "4155550101" || field(rows[0], csvin.Extension) != "1001" || rows[0].Skip != nil {
		t.Errorf("route 1: %+v", rows[0])
	}
	for i, want := range []string{"an IVR", "ring group 600", "calls from 4155559999"} {
		r := rows[2+i]
		if r.Skip == nil || r.Skip.Code != pbx.CodeNotUserRoute || !strings.Contains(r.Skip.Message, want) {
			t.Errorf("line %d: skip %+v, want %q", r.Line, r.Skip, want)
		}
	}
}

func TestMissingRequiredColumn(t *testing.T) {
	// A FreePBX extensions export without its extension column.
	body := "name,tech,secret,outboundcid,voicemail_email\nAnn Lee,pjsip,x,,a@example.com\n"
	rd := NewReader(strings.NewReader(body), csvin.Limits{}, Options{})
	_, _, err := rd.Header()
	if pbx.ErrorCode(err) != pbx.CodeMissingColumn || !strings.Contains(pbx.ErrorMessage(err), "FreePBX") || !strings.Contains(pbx.ErrorMessage(err), "extension") {
		t.Fatalf("err = %v", err)
	}
	// 3CX reads by position: FirstName moved to column 1 is an error.
	body = "FirstName,Number,LastName,EmailAddress,MobileNumber,AuthID,AuthPassword\nAnn,1101,Lee,a@example.com,,1101,x\n"
	_, _, err = NewReader(strings.NewReader(body), csvin.Limits{}, Options{}).Header()
	if pbx.ErrorCode(err) != pbx.CodeMissingColumn || !strings.Contains(pbx.ErrorMessage(err), "position") {
		t.Fatalf("3CX out of order: err = %v", err)
	}
}

func TestThreeCXByPosition(t *testing.T) {
	// A translated header: 3CX itself reads these columns by position.
	body := "Nummer,Vorname,Nachname,E-Mail,Mobil,OutboundCallerID,AuthID,AuthPassword\n1101,Anna,Berg,anna@example.com,,,1101,x\n"
	body = strings.Replace(body, "Nummer", "Number", 1) // the signature needs Number/FirstName/LastName somewhere
	body = strings.Replace(body, "Vorname", "FirstName", 1)
	body = strings.Replace(body, "Nachname", "LastName", 1)
	src, rows := readAll(t, body, Options{})
	if src.Peer != "3cx-extensions" || field(rows[0], csvin.Email) != "anna@example.com" {
		t.Fatalf("%s %+v", src.Peer, rows[0].Fields)
	}
	if src.Columns[3].Field != "email" {
		t.Errorf("column 4 (E-Mail) by position: %+v", src.Columns[3])
	}
}

func TestWazoMultiValuedAndDisabled(t *testing.T) {
	_, rows := readAll(t, sample(t, "wazo-users.csv"), Options{})
	if field(rows[0], csvin.DID) != "4155550201" || rows[0].Notes[0].Code != pbx.CodeMultipleValues {
		t.Errorf("incall_exten: %q %+v", field(rows[0], csvin.DID), rows[0].Notes)
	}
	if field(rows[1], csvin.CallerID) != "" {
		t.Errorf(`outgoing_caller_id "default" became %q`, field(rows[1], csvin.CallerID))
	}
	if len(rows[1].Notes) != 1 || rows[1].Notes[0].Code != pbx.CodeUserDisabled {
		t.Errorf("disabled user: %+v", rows[1].Notes)
	}
	if rows[2].Skip == nil || rows[2].Skip.Code != pbx.CodeNotSIPUser {
		t.Errorf("sccp line: %+v", rows[2].Skip)
	}
}

func TestVodia(t *testing.T) {
	src, rows := readAll(t, sample(t, "vodia-accounts.csv"), Options{})
	if src.Peer != "vodia-accounts" || field(rows[0], csvin.Extension) != "2001" || field(rows[0], csvin.DID) != "4155552001" {
		t.Fatalf("%s %+v", src.Peer, rows[0].Fields)
	}
	if field(rows[0], csvin.Mobile) != "4155552101" || field(rows[1], csvin.Extension) != "2002" {
		t.Errorf("%+v / %+v", rows[0].Fields, rows[1].Fields)
	}
}

func TestDevicesCompanion(t *testing.T) {
	src, rows := readAll(t, sample(t, "fusionpbx-devices.csv"), Options{})
	if src.Kind != KindDevices {
		t.Fatalf("kind %s", src.Kind)
	}
	if field(rows[0], csvin.Extension) != "1501" || field(rows[0], csvin.MAC) != "0015651a1501" || field(rows[0], csvin.PhoneModel) != "yealink-t53w" {
		t.Errorf("%+v", rows[0].Fields)
	}
	if field(rows[1], csvin.PhoneModel) != "polycom-vvx450" {
		t.Errorf("%+v", rows[1].Fields)
	}
}

func TestSplitName(t *testing.T) {
	for in, want := range map[string][2]string{
		"Ann Lee":         {"Ann", "Lee"},
		"Lee, Ann":        {"Ann", "Lee"},
		"Ann Marie  Lee":  {"Ann Marie", "Lee"},
		"Reception":       {"Reception", ""},
		"  ":              {"", ""},
		"van Dyke, Dick ": {"Dick", "van Dyke"},
	} {
		f, l := SplitName(in)
		if f != want[0] || l != want[1] {
			t.Errorf("SplitName(%q) = %q, %q; want %q", in, f, l, want)
		}
	}
}

func TestMapPhoneModel(t *testing.T) {
	for _, tc := range []struct{ vendor, model, want, code string }{
		{"Yealink", "SIP-T54W", "yealink-t54w", ""},
		{"yealink", "t53", "yealink-t53w", pbx.CodePhoneModelMapped},
		{"", "yealink-t57w", "yealink-t57w", ""},
		{"Polycom", "VVX 450", "polycom-vvx450", ""},
		{"Poly", "vvx250", "polycom-vvx250", ""},
		{"Cisco", "CP-8851-3PCC", "cisco-mpp8851", ""},
		{"cisco", "SPA504G", "cisco-spa504g", ""},
		{"Grandstream", "GXP2170", "grandstream-gxp2170", ""},
		{"yealink", "t42g", "", pbx.CodePhoneModelNone},
		{"digium", "d65", "", pbx.CodePhoneModelNone},
	} {
		id, code, _ := MapPhoneModel(tc.vendor, tc.model)
		if id != tc.want || code != tc.code {
			t.Errorf("MapPhoneModel(%q, %q) = %q %q; want %q %q", tc.vendor, tc.model, id, code, tc.want, tc.code)
		}
	}
}

func TestParseFlag(t *testing.T) {
	for _, v := range []string{"1", "yes", "Y", "true", "enabled", "on"} {
		if b, ok := parseFlag(v); !b || !ok {
			t.Errorf("%q", v)
		}
	}
	for _, v := range []string{"0", "no", "N", "false", "disabled", "off"} {
		if b, ok := parseFlag(v); b || !ok {
			t.Errorf("%q", v)
		}
	}
	if _, ok := parseFlag("maybe"); ok {
		t.Error("maybe")
	}
}

// TestFreePBXHeaderVariants: the Bulk Handler header changes with the
// version and the installed modules; older exports are upper case, and
// the legacy Bulk Extensions module has an action column.
func TestFreePBXHeaderVariants(t *testing.T) {
	upper := "EXTENSION,PASSWORD,NAME,VOICEMAIL,RINGTIMER,OUTBOUNDCID,SIPNAME,ID,TECH,DIAL,DEVICETYPE,USER,DESCRIPTION,CALLERID,SECRET,VOICEMAIL_ENABLE,VOICEMAIL_VMPWD,VOICEMAIL_EMAIL\n" +
		"5000,,\"User 5000 functional testing\",default,0,,,5000,sip,SIP/5000,fixed,5000,\"User 5000 functional testing\",\"device <5000>\",a35fe7f7fe8217b4369a0af4244d1fca,yes,1234,u5000@example.com\n"
	src, rows := readAll(t, upper, Options{})
	if src.Peer != "freepbx-extensions" || field(rows[0], csvin.Extension) != "5000" || field(rows[0], csvin.LastName) != "testing" ||
		field(rows[0], csvin.CallerID) != "" || field(rows[0], csvin.Email) != "u5000@example.com" {
		t.Errorf("upper-case export: %s %+v", src.Peer, rows[0].Fields)
	}
	legacy := "action,extension,name,cid_masquerade,sipname,directdid,outboundcid,ringtimer,callwaiting,tech,devinfo_secret,devinfo_dtmfmode,vm,vmpwd,email\n" +
		"add,12345,John Doe,,,4155550199,,,enabled,sip,1234,rfc2833,enabled,123456789,jdoe@example.com\n" +
		"del,12346,,,,,,,,,,,,,\n"
	src, rows = readAll(t, legacy, Options{})
	if src.Peer != "freepbx-extensions" || field(rows[0], csvin.DID) != "4155550199" || field(rows[0], csvin.Email) != "jdoe@example.com" {
		t.Errorf("legacy export: %s %+v", src.Peer, rows[0].Fields)
	}
	if rows[1].Skip == nil || rows[1].Skip.Code != pbx.CodeDeleteRow {
		t.Errorf("del row: %+v", rows[1].Skip)
	}
}

// TestPhoneModelColumn: a peer's phone model cell becomes one of our
// models; a near model is noted, one with no equivalent is cleared and
// noted, an exact one (in any case) passes without a note.
func TestPhoneModelColumn(t *testing.T) {
	body := "Number,FirstName,LastName,EmailAddress,MobileNumber,AuthID,PhoneModel\n" +
		"1101,Ann,Lee,,,1101,Yealink T54W\n" +
		"1102,Bo,Ek,,,1102,yealink-t53\n" +
		"1103,Cy,Ng,,,1103,Digium D65\n" +
		"1104,Di,Oh,,,1104,YEALINK-T57W\n"
	src, rows := readAll(t, body, Options{})
	if src.Peer != "3cx-extensions" || len(rows) != 4 {
		t.Fatalf("%s, %d rows", src.Peer, len(rows))
	}
	for i, want := range []struct{ model, code string }{
		{"yealink-t54w", ""},
		{"yealink-t53w", pbx.CodePhoneModelMapped},
		{"", pbx.CodePhoneModelNone},
		{"yealink-t57w", ""},
	} {
		r := rows[i]
		code := ""
		if len(r.Notes) > 0 {
			code = r.Notes[0].Code
		}
		if field(r, csvin.PhoneModel) != want.model || code != want.code || len(r.Notes) > 1 {
			t.Errorf("line %d: model %q notes %+v; want %q %q", r.Line, field(r, csvin.PhoneModel), r.Notes, want.model, want.code)
		}
	}
}
