package provision

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current templates")

// familyModel is one model per family for golden files.
func familyModel() map[Family]string {
	return map[Family]string{
		Yealink: "yealink-t54w", Polycom: "polycom-vvx450", Grandstream: "grandstream-grp2614",
		Cisco: "cisco-mpp8851", Snom: "snom-d785", Fanvil: "fanvil-x4u",
	}
}

func tenantSettings(t testing.TB, tenant string, extra string) pbx.Settings {
	t.Helper()
	layers := [][]byte{pbx.LocalTenantOverrides(tenant)}
	if extra != "" {
		layers = append(layers, []byte(extra))
	}
	s, err := pbx.Merge(pbx.SystemDefaults(), layers...)
	if err != nil {
		t.Fatalf("settings: %v", err)
	}
	return s
}

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// dump joins a device's files for a golden file.
func dump(files []File) []byte {
	var b bytes.Buffer
	for _, f := range files {
		fmt.Fprintf(&b, "==> %s (%s) <==\n", f.Name, f.ContentType)
		b.Write(f.Body)
		if !bytes.HasSuffix(f.Body, []byte("\n")) {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func TestRenderGolden(t *testing.T) {
	r := newRenderer(t)
	settings := tenantSettings(t, "acme", `{"provisioning":{"proxy":"edge.acme.pbx.example"}}`)
	for family, model := range familyModel() {
		t.Run(string(family), func(t *testing.T) {
			a := Account{
				MAC: "001565a1b2c3", Model: model, DisplayName: `Chloé "Q" O'Brien <&>`,
				Extension: "100", SIPUser: "100-acme", SIPSecret: `s3cr<e>t&"'`,
			}
			got, err := r.Render(a, settings.Provisioning)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Warnings) != 0 {
				t.Errorf("warnings = %q, want none", got.Warnings)
			}
			if got.Family != family {
				t.Errorf("family = %s, want %s", got.Family, family)
			}
			var names []string
			for _, f := range got.Files {
				names = append(names, f.Name)
			}
			if want := FileNames(model, a.MAC); !equal(names, want) {
				t.Errorf("file names = %q, FileNames says %q", names, want)
			}
			for _, f := range got.Files {
				if f.ContentType == "application/xml" {
					xmlValues(t, f.Body) // fails the test unless well-formed
				}
			}
			again, err := r.Render(a, settings.Provisioning)
			if err != nil || !bytes.Equal(dump(again.Files), dump(got.Files)) {
				t.Fatalf("rendering is not deterministic (err %v)", err)
			}
			golden := filepath.Join("testdata", string(family)+".golden")
			if *update {
				if err := os.WriteFile(golden, dump(got.Files), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(dump(got.Files), want) {
				t.Errorf("%s differs from rendered output:\n%s", golden, dump(got.Files))
			}
		})
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

func TestFileNames(t *testing.T) {
	tests := []struct {
		model string
		want  []string
	}{
		{"yealink-t46u", []string{"001565a1b2c3.cfg"}},
		{"polycom-vvx250", []string{"001565a1b2c3.cfg", "001565a1b2c3-bulkprov.cfg"}},
		{"grandstream-gxp2170", []string{"cfg001565a1b2c3.xml"}},
		{"cisco-spa504g", []string{"001565a1b2c3.xml"}},
		{"snom-d735", []string{"001565A1B2C3.xml"}},
		{"fanvil-x6u", []string{"001565a1b2c3.cfg"}},
		{"acme-phone", nil},
	}
	for _, tt := range tests {
		if got := FileNames(tt.model, "001565a1b2c3"); !equal(got, tt.want) {
			t.Errorf("FileNames(%s) = %q, want %q", tt.model, got, tt.want)
		}
	}
}

func TestKnownModel(t *testing.T) {
	for _, m := range []string{"yealink-t46u", "yealink-t48u", "yealink-t54w", "yealink-t57w",
		"polycom-vvx250", "polycom-vvx450", "grandstream-grp2614", "grandstream-gxp2170",
		"cisco-mpp6851", "cisco-mpp8851", "cisco-spa504g", "snom-d735", "snom-d785",
		"fanvil-x4u", "fanvil-x6u"} {
		if !KnownModel(m) {
			t.Errorf("KnownModel(%q) = false", m)
		}
	}
	for _, m := range []string{"", "Yealink-T54W", "yealink", "yealink-t54w ", "acme-9000"} {
		if KnownModel(m) {
			t.Errorf("KnownModel(%q) = true", m)
		}
	}
	models := Models()
	for i := 1; i < len(models); i++ {
		if models[i-1] >= models[i] {
			t.Fatalf("Models() not sorted: %q", models)
		}
	}
	models[0] = "mutated"
	if Models()[0] == "mutated" {
		t.Error("Models() shares its slice with the caller")
	}
	if !KnownModel(pbx.SystemDefaults().Provisioning.DefaultPhoneModel) && pbx.SystemDefaults().Provisioning.DefaultPhoneModel != "" {
		t.Error("system default phone model is not a known model")
	}
	if !KnownModel(tenantSettings(t, "acme", "").Provisioning.DefaultPhoneModel) {
		t.Error("LocalTenantOverrides' default phone model is not a known model")
	}
}

// xmlValues decodes an XML file into element/attribute name → values,
// failing the test if it is not well-formed.
func xmlValues(t *testing.T, body []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	dec := xml.NewDecoder(bytes.NewReader(body))
	var stack []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, body)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
			for _, a := range tok.Attr {
				out[a.Name.Local] = append(out[a.Name.Local], a.Value)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && strings.TrimSpace(string(tok)) != "" {
				out[stack[len(stack)-1]] = append(out[stack[len(stack)-1]], string(tok))
			}
		}
	}
	return out
}

// secretField is where each XML family carries the SIP secret and user.
func secretFields() map[Family][2]string {
	return map[Family][2]string{
		Polycom:     {"reg.1.auth.password", "reg.1.address"},
		Grandstream: {"P34", "P35"},
		Cisco:       {"Password_1_", "User_ID_1_"},
		Snom:        {"user_pass", "user_name"},
		Fanvil:      {"RegisterPswd", "PhoneNumber"},
	}
}

func TestRenderXMLRoundTripsHostileValues(t *testing.T) {
	r := newRenderer(t)
	settings := tenantSettings(t, "acme", "")
	hostile := []string{`Jürgen Groß`, `a"b'c`, `</P34><P34>x`, `&amp; &#x41; ]]>`, `<!-- -->`, `${x} {{.Secret}}`, `O'Brien-Łukasz 李`}
	for family, fields := range secretFields() {
		for _, value := range hostile {
			a := Account{MAC: "001565a1b2c3", Model: familyModel()[family], DisplayName: value,
				Extension: "100", SIPUser: "100-acme", SIPSecret: value}
			got, err := r.Render(a, settings.Provisioning)
			if err != nil {
				t.Fatalf("%s %q: %v", family, value, err)
			}
			f := got.Files[len(got.Files)-1] // Polycom: the per-phone file
			vals := xmlValues(t, f.Body)
			if s := vals[fields[0]]; len(s) != 1 || s[0] != value {
				t.Errorf("%s: secret %q decodes as %q", family, value, s)
			}
			if s := vals[fields[1]]; len(s) != 1 || s[0] != "100-acme" {
				t.Errorf("%s: user decodes as %q", family, s)
			}
		}
	}
}

func TestRenderLineFormatsKeepOneValuePerLine(t *testing.T) {
	r := newRenderer(t)
	settings := tenantSettings(t, "acme", "")
	value := `Jürgen Groß = x : # "q" <&>`
	for _, family := range []Family{Yealink} {
		a := Account{MAC: "001565a1b2c3", Model: familyModel()[family], DisplayName: value,
			Extension: "100", SIPUser: "100-acme", SIPSecret: "pw"}
		got, err := r.Render(a, settings.Provisioning)
		if err != nil {
			t.Fatal(err)
		}
		body := string(got.Files[0].Body)
		key := "account.1.display_name = "
		if !strings.Contains(body, "\n"+key+value+"\n") {
			t.Errorf("%s: display name line not intact:\n%s", family, body)
		}
	}
}

func TestRenderRejectsUnsafeValues(t *testing.T) {
	r := newRenderer(t)
	base := Account{MAC: "001565a1b2c3", DisplayName: "Ann Lee", Extension: "100", SIPUser: "100-acme", SIPSecret: "pw"}
	tests := []struct {
		name  string
		edit  func(*Account, *pbx.Provisioning)
		code  string
		field string
	}{
		{"LF in name", func(a *Account, _ *pbx.Provisioning) { a.DisplayName = "Ann\naccount.1.password = x" }, pbx.CodeControlCharacter, "name"},
		{"CR in secret", func(a *Account, _ *pbx.Provisioning) { a.SIPSecret = "pw\r" }, pbx.CodeControlCharacter, "sip_secret"},
		{"NUL in user", func(a *Account, _ *pbx.Provisioning) { a.SIPUser = "100\x00" }, pbx.CodeControlCharacter, "sip_user"},
		{"line separator", func(a *Account, _ *pbx.Provisioning) { a.DisplayName = "Ann\u2028Lee" }, pbx.CodeControlCharacter, "name"},
		{"C1 control", func(a *Account, _ *pbx.Provisioning) { a.DisplayName = "Ann\u0085" }, pbx.CodeControlCharacter, "name"},
		{"tab", func(a *Account, _ *pbx.Provisioning) { a.DisplayName = "Ann\tLee" }, pbx.CodeControlCharacter, "name"},
		{"invalid UTF-8", func(a *Account, _ *pbx.Provisioning) { a.DisplayName = "Ann\xff" }, pbx.CodeEncoding, "name"},
		{"too long", func(a *Account, _ *pbx.Provisioning) { a.DisplayName = strings.Repeat("é", 129) }, pbx.CodeFieldTooLong, "name"},
		{"LF in registrar", func(_ *Account, p *pbx.Provisioning) { p.Registrar = "sip.example\nx" }, pbx.CodeControlCharacter, "provisioning.registrar"},
		{"empty secret", func(a *Account, _ *pbx.Provisioning) { a.SIPSecret = "" }, pbx.CodeRequired, "sip_secret"},
		{"bad MAC", func(a *Account, _ *pbx.Provisioning) { a.MAC = "../../etc/x" }, pbx.CodeInvalidMAC, "mac"},
		{"uppercase MAC", func(a *Account, _ *pbx.Provisioning) { a.MAC = "001565A1B2C3" }, pbx.CodeInvalidMAC, "mac"},
		{"unknown model", func(a *Account, _ *pbx.Provisioning) { a.Model = "acme-9000" }, pbx.CodeInvalidPhoneModel, "phone_model"},
	}
	for _, tt := range tests {
		for family, model := range familyModel() {
			a := base
			a.Model = model
			p := tenantSettings(t, "acme", "").Provisioning
			tt.edit(&a, &p)
			_, err := r.Render(a, p)
			var perr *pbx.Error
			if !errors.As(err, &perr) || perr.Code != tt.code || perr.Field != tt.field {
				t.Errorf("%s/%s: err = %v, want code %s field %s", tt.name, family, err, tt.code, tt.field)
			}
		}
	}
}

func TestRenderOnlyTheRowsOwnCredentials(t *testing.T) {
	r := newRenderer(t)
	type row struct {
		tenant string
		a      Account
	}
	rows := []row{
		{"acme", Account{MAC: "001565000001", DisplayName: "Ann Lee", Extension: "100", SIPUser: "100-acme", SIPSecret: "acmeSecretAAAA"}},
		{"globex", Account{MAC: "001565000002", DisplayName: "Bob Roe", Extension: "200", SIPUser: "200-globex", SIPSecret: "globexSecretBBBB"}},
	}
	for family, model := range familyModel() {
		var bodies [2][]byte
		for i, rw := range rows {
			rw.a.Model = model
			got, err := r.Render(rw.a, tenantSettings(t, rw.tenant, "").Provisioning)
			if err != nil {
				t.Fatal(err)
			}
			bodies[i] = dump(got.Files)
		}
		for i, rw := range rows {
			other := rows[1-i]
			for _, own := range []string{rw.a.SIPSecret, rw.a.SIPUser, rw.a.DisplayName, "sip." + rw.tenant + ".pbx.example"} {
				if !bytes.Contains(bodies[i], []byte(own)) {
					t.Errorf("%s: %s's file lacks %q", family, rw.tenant, own)
				}
			}
			for _, foreign := range []string{other.a.SIPSecret, other.a.SIPUser, other.a.DisplayName, other.tenant, other.a.MAC} {
				if bytes.Contains(bodies[i], []byte(foreign)) {
					t.Errorf("%s: %s's file contains %q from %s", family, rw.tenant, foreign, other.tenant)
				}
			}
		}
	}
}

func TestRenderZonesAndLanguages(t *testing.T) {
	r := newRenderer(t)
	a := Account{MAC: "001565a1b2c3", DisplayName: "Ann", Extension: "100", SIPUser: "100-acme", SIPSecret: "pw"}
	tests := []struct {
		zone, lang string
		family     Family
		want       []string
		warnings   int
	}{
		{"America/Los_Angeles", "en-US", Yealink, []string{"local_time.time_zone = -8\n", "time_zone_name = United States-Pacific Time\n", "summer_time = 2\n", "lang.gui = English\n"}, 0},
		{"Asia/Kolkata", "de-AT", Yealink, []string{"local_time.time_zone = +5:30\n", "time_zone_name = India(Calcutta)\n", "summer_time = 0\n", "lang.gui = German\n"}, 0},
		{"America/Denver", "en-US", Yealink, []string{"time_zone_name = United States-Mountain Time\n", "summer_time = 1\n", "start_time = 3/2/7/2\n", "end_time = 11/1/7/2\n"}, 0},
		{"Europe/London", "en-GB", Yealink, []string{"local_time.time_zone = 0\n", "time_zone_name = United Kingdom(London)\n", "summer_time = 2\n"}, 0},
		{"Europe/Paris", "fr-FR", Polycom, []string{`gmtOffset="3600"`, `start.time="2"`, `stop.time="3"`, `lastInMonth="1"`, `lcl.ml.lang="French_France"`}, 0},
		{"Asia/Kolkata", "en-US", Polycom, []string{`gmtOffset="19800"`, `daylightSavings.enable="0"`}, 0},
		{"America/New_York", "en-US", Polycom, []string{`gmtOffset="-18000"`, `start.month="3"`, `start.date="8"`}, 0},
		{"Europe/Berlin", "de-DE", Grandstream, []string{"<P64>CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00</P64>", "<P1362>de</P1362>"}, 0},
		{"Asia/Kolkata", "en-US", Grandstream, []string{"<P64>TZT-5:30</P64>"}, 0},
		{"America/Sao_Paulo", "en-US", Grandstream, []string{"<P64>customize</P64>", "<P246>BRT3</P246>"}, 0},
		{"Europe/London", "en-GB", Cisco, []string{"<Time_Zone>GMT+00:00</Time_Zone>", "start=3/-1/7/1:0:0;end=10/-1/7/2:0:0", "<Locale>en-GB</Locale>"}, 0},
		{"Asia/Kolkata", "en-US", Cisco, []string{"<Time_Zone>GMT+05:30</Time_Zone>"}, 0},
		{"America/Phoenix", "fr-CA", Cisco, []string{"<Time_Zone>GMT-07:00</Time_Zone>", "<Daylight_Saving_Time_Enable>No</Daylight_Saving_Time_Enable>", "<Locale>fr-CA</Locale>"}, 0},
		{"America/Chicago", "es", Snom, []string{">USA-6</timezone>", ">Español</language>", ">ESP</tone_scheme>"}, 0},
		{"Europe/London", "en-GB", Snom, []string{">GBR-0</timezone>"}, 0},
		{"Asia/Kolkata", "en-US", Snom, []string{">IND+5.5</timezone>"}, 0},
		{"America/Los_Angeles", "nl-NL", Fanvil, []string{"<TimeZone>-32</TimeZone>", "<TimeZoneName>UTC-08</TimeZoneName>", "<DefaultLanguage>nl</DefaultLanguage>", "<DSTStartMon>3</DSTStartMon>"}, 0},
		{"Mars/Olympus_Mons", "tlh", Yealink, []string{"lang.gui = English\n"}, 2},
	}
	for _, tt := range tests {
		p := tenantSettings(t, "acme", fmt.Sprintf(`{"provisioning":{"time_zone":%q,"language":%q}}`, tt.zone, tt.lang)).Provisioning
		a.Model = familyModel()[tt.family]
		got, err := r.Render(a, p)
		if err != nil {
			t.Fatal(err)
		}
		body := string(dump(got.Files))
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s %s %s: missing %q in\n%s", tt.family, tt.zone, tt.lang, w, body)
			}
		}
		if len(got.Warnings) != tt.warnings {
			t.Errorf("%s %s %s: warnings %q, want %d", tt.family, tt.zone, tt.lang, got.Warnings, tt.warnings)
		}
	}
}

// TestUnexpressibleZoneLeavesTheClockAlone: a zone a vendor's table has no
// value for is a row warning, and the file has no time zone keys at all
// (the phone keeps its own setting) rather than a wrong clock.
func TestUnexpressibleZoneLeavesTheClockAlone(t *testing.T) {
	r := newRenderer(t)
	a := Account{MAC: "001565a1b2c3", DisplayName: "Ann", Extension: "100", SIPUser: "100-acme", SIPSecret: "pw"}
	tests := []struct {
		zone    string
		family  Family
		absent  []string
		warning string
	}{
		{"Asia/Kolkata", Fanvil, []string{"<TimeZone>", "<TimeZoneName>", "DST"}, "whole-hour offsets only"},
		{"UTC", Snom, []string{"<timezone"}, "Snom's table has no code"},
		{"Mars/Olympus_Mons", Yealink, []string{"local_time.time_zone", "summer_time"}, "not one bulkprov maps"},
		{"Mars/Olympus_Mons", Grandstream, []string{"<P64>", "<P246>"}, "not one bulkprov maps"},
		{"Mars/Olympus_Mons", Cisco, []string{"<Time_Zone>", "Daylight_Saving"}, "not one bulkprov maps"},
		{"Mars/Olympus_Mons", Polycom, []string{"gmtOffset", "daylightSavings"}, "not one bulkprov maps"},
	}
	for _, tt := range tests {
		p := tenantSettings(t, "acme", fmt.Sprintf(`{"provisioning":{"time_zone":%q}}`, tt.zone)).Provisioning
		a.Model = familyModel()[tt.family]
		got, err := r.Render(a, p)
		if err != nil {
			t.Fatal(err)
		}
		body := string(dump(got.Files))
		for _, k := range tt.absent {
			if strings.Contains(body, k) {
				t.Errorf("%s %s: %q written although the zone cannot be expressed:\n%s", tt.family, tt.zone, k, body)
			}
		}
		if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], tt.warning) {
			t.Errorf("%s %s: warnings %q, want one containing %q", tt.family, tt.zone, got.Warnings, tt.warning)
		}
	}
}

func TestRenderTransports(t *testing.T) {
	r := newRenderer(t)
	a := Account{MAC: "001565a1b2c3", DisplayName: "Ann", Extension: "100", SIPUser: "100-acme", SIPSecret: "pw"}
	want := map[Family]map[string]string{
		Yealink:     {"udp": "transport_type = 0\n", "tls": "transport_type = 2\n"},
		Polycom:     {"udp": `transport="UDPOnly"`, "tcp": `transport="TCPOnly"`, "tls": `transport="TLS"`},
		Grandstream: {"tcp": "<P130>1</P130>"},
		Cisco:       {"tls": "<SIP_Transport_1_>TLS</SIP_Transport_1_>"},
		Snom:        {"udp": ";transport=udp<"},
		Fanvil:      {"udp": "<Transport>0</Transport>", "tcp": "<Transport>1</Transport>", "tls": "<Transport>3</Transport>"},
	}
	for family, byTransport := range want {
		for transport, fragment := range byTransport {
			p := tenantSettings(t, "acme", fmt.Sprintf(`{"provisioning":{"transport":%q,"port":5060}}`, transport)).Provisioning
			a.Model = familyModel()[family]
			got, err := r.Render(a, p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(dump(got.Files), []byte(fragment)) {
				t.Errorf("%s %s: missing %q", family, transport, fragment)
			}
		}
	}
}

// BenchmarkRender reports files rendered per second per family, and the
// ratio to a baseline that only formats the same values with fmt in the
// same run (the cost floor of producing the text at all).
func BenchmarkRender(b *testing.B) {
	r := newRenderer(b)
	p := tenantSettings(b, "acme", "").Provisioning
	a := Account{MAC: "001565a1b2c3", DisplayName: "Jürgen Groß", Extension: "100", SIPUser: "100-acme", SIPSecret: "Zq8v2LrT9wPmK3xN"}
	var baseline float64
	b.Run("baseline-fmt", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			fmt.Fprintf(&buf, "account.1.display_name = %s\naccount.1.user_name = %s\naccount.1.password = %s\naccount.1.sip_server.1.address = %s\n",
				a.DisplayName, a.SIPUser, a.SIPSecret, p.Registrar)
		}
		baseline = float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(baseline, "files/s")
	})
	for _, family := range Families() {
		b.Run(string(family), func(b *testing.B) {
			a.Model = familyModel()[family]
			for b.Loop() {
				if _, err := r.Render(a, p); err != nil {
					b.Fatal(err)
				}
			}
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "files/s")
			if baseline > 0 {
				b.ReportMetric(rate/baseline, "x-baseline")
			}
		})
	}
}
