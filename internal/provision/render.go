package provision

import (
	"bytes"
	"embed"
	"encoding/xml"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"unicode"
	"unicode/utf8"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

//go:embed templates/*.tmpl
var templateFS embed.FS // read-only; embed.FS cannot be mutated

// Account is what a phone file carries for one endpoint.
type Account struct {
	MAC         string // 12 lowercase hex digits
	Model       string // a KnownModel id
	DisplayName string
	Extension   string
	SIPUser     string // "100-acme"; also the auth name unless AuthName is set
	AuthName    string
	SIPSecret   string
}

// File is one rendered file, named as the phone requests it.
type File struct {
	Name        string
	ContentType string
	Body        []byte
}

// Rendered is the outcome for one device: its files (the first is the one
// the phone asks for by MAC) and warnings for the row (e.g. unsupported
// time zone).
type Rendered struct {
	Family   Family
	Files    []File
	Warnings []string
}

// Renderer renders phone files from the embedded templates. It is safe for
// concurrent use.
type Renderer struct {
	tmpl      *template.Template
	zones     map[string]zone     // built once; read-only
	languages map[string]language // built once; read-only
}

// NewRenderer parses the embedded templates.
func NewRenderer() (*Renderer, error) {
	t, err := template.New("provision").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse provisioning templates: %w", err)
	}
	return &Renderer{tmpl: t, zones: zones(), languages: languages()}, nil
}

var macRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// maxValueLen bounds every value written into a file: phones truncate or
// choke on longer fields, and it keeps a hostile value from bloating files.
const maxValueLen = 128

// view is the data a template sees. Every string in it has been checked
// for control characters and escaped for the family's format before the
// template runs, so templates print fields as they are.
type view struct {
	MAC, VendorModel                          string
	DisplayName, Extension, SIPUser, AuthName string
	Secret, Registrar, Proxy, VoicemailNumber string
	NTPServer, PhoneFile                      string
	Port                                      int
	UseOutboundProxy                          bool
	Transport                                 string // the family's value for udp/tcp/tls
	Lang                                      language
	// Time: ZoneOK is false when the zone is unknown or the family's table
	// cannot express it; the templates then leave the phone's clock
	// settings alone.
	ZoneOK                         bool
	Zone                           zone
	ZoneGMT                        string
	ZoneSeconds                    int
	HasDST                         bool
	YealinkSummer                  int
	YealinkDSTStart, YealinkDSTEnd string
	PolycomDST                     polycomDST
	CiscoDSTRule                   string
	FanvilTZ                       int
	FanvilTZName                   string
	FanvilDST                      fanvilDST
}

// fanvilDST is a DST rule in Fanvil's DSTStart*/DSTEnd* terms (week -1 is
// the last week; hours local), as wazo's fanvil _extract_dst_change builds it.
type fanvilDST struct {
	StartMonth, StartWeek, StartHour int
	EndMonth, EndWeek, EndHour       int
}

// polycomDST is a DST rule in Polycom's tcpIpApp.sntp.daylightSavings terms.
type polycomDST struct {
	FixedDay                                    int
	StartMonth, StartDate, StartTime, StartLast int
	StopMonth, StopDate, StopTime, StopLast     int
}

// Render renders the files of one device from the tenant's provisioning
// settings. A value that cannot be written safely (control characters,
// invalid UTF-8, too long) is an error naming the field; it is never
// silently altered.
func (r *Renderer) Render(a Account, p pbx.Provisioning) (Rendered, error) {
	family, ok := FamilyOf(a.Model)
	if !ok {
		return Rendered{}, pbx.Errorf(pbx.CodeInvalidPhoneModel, "phone_model", "unknown phone model %q", a.Model)
	}
	if a.AuthName == "" {
		a.AuthName = a.SIPUser
	}
	proxy := p.Proxy
	if proxy == "" {
		proxy = p.Registrar
	}
	if err := checkInputs(a, p, proxy); err != nil {
		return Rendered{}, err
	}
	v, warnings, err := r.newView(family, a, p, proxy)
	if err != nil {
		return Rendered{}, err
	}
	files, err := r.renderFiles(family, a, v)
	if err != nil {
		return Rendered{}, err
	}
	return Rendered{Family: family, Files: files, Warnings: warnings}, nil
}

// checkInputs refuses an account or settings a phone file cannot carry:
// a malformed MAC, a value with control characters, invalid UTF-8 or too
// long, a missing SIP identity or server, a port out of range.
func checkInputs(a Account, p pbx.Provisioning, proxy string) error {
	if !macRE.MatchString(a.MAC) {
		return pbx.Errorf(pbx.CodeInvalidMAC, "mac", "MAC must be 12 lowercase hex digits")
	}
	fields := []struct{ name, value string }{
		{"name", a.DisplayName}, {"extension", a.Extension}, {"sip_user", a.SIPUser},
		{"auth_name", a.AuthName}, {"sip_secret", a.SIPSecret},
		{"provisioning.registrar", p.Registrar}, {"provisioning.proxy", proxy},
		{"provisioning.voicemail_number", p.VoicemailNumber}, {"provisioning.ntp_server", p.NTPServer},
	}
	for _, f := range fields {
		if err := checkValue(f.name, f.value); err != nil {
			return err
		}
	}
	for _, f := range fields[2:7] { // sip_user through provisioning.proxy
		if f.value == "" {
			return pbx.Errorf(pbx.CodeRequired, f.name, "is required to provision a phone")
		}
	}
	if p.Port < 1 || p.Port > 65535 {
		return pbx.Errorf(pbx.EINVALID, "provisioning.port", "must be 1-65535, not %d", p.Port)
	}
	return nil
}

// newView builds what the templates see: every value escaped for the
// family's format, the transport in the family's terms, the language and
// the time zone; an unknown zone or language is a warning, not an error.
func (r *Renderer) newView(family Family, a Account, p pbx.Provisioning, proxy string) (*view, []string, error) {
	esc := func(s string) string { return s }
	if family != Yealink {
		esc = escapeXML
	}
	var warnings []string
	z, zoneOK, warn := zoneFor(r.zones, p.TimeZone, family)
	if warn != "" {
		warnings = append(warnings, warn)
	}
	lang, warn := lookupLanguage(r.languages, p.Language)
	if warn != "" {
		warnings = append(warnings, warn)
	}
	transport, err := transportValue(family, p.Transport)
	if err != nil {
		return nil, nil, err
	}
	v := &view{
		MAC: a.MAC, VendorModel: vendorModel(a.Model),
		DisplayName: esc(a.DisplayName), Extension: esc(a.Extension), SIPUser: esc(a.SIPUser),
		AuthName: esc(a.AuthName), Secret: esc(a.SIPSecret), Registrar: esc(p.Registrar),
		Proxy: esc(proxy), VoicemailNumber: esc(p.VoicemailNumber), NTPServer: esc(p.NTPServer),
		Port: p.Port, UseOutboundProxy: proxy != p.Registrar, Transport: transport,
		Lang: escapeLanguage(lang, esc), ZoneOK: zoneOK,
	}
	if zoneOK {
		v.setZone(z)
	}
	return v, warnings, nil
}

// setZone fills the time zone in each family's terms.
func (v *view) setZone(z zone) {
	v.Zone = z
	v.ZoneGMT, v.ZoneSeconds = gmtOffset(z.offsetMin), z.offsetMin*60
	v.HasDST = z.dst != dstNone
	v.PolycomDST, v.CiscoDSTRule = polycomRule(z), ciscoRule(z)
	v.FanvilTZ, v.FanvilTZName, v.FanvilDST = z.offsetMin/15, fanvilZoneName(z.offsetMin), fanvilRule(z)
	switch {
	case !v.HasDST:
		v.YealinkSummer = 0
	case z.yealinkAuto:
		v.YealinkSummer = 2 // the rule of Yealink's own table entry
	default:
		v.YealinkSummer = 1
		v.YealinkDSTStart, v.YealinkDSTEnd = yealinkRule(z)
	}
}

// renderFiles runs the family's templates, naming each file as the phone
// requests it (FileNames lists the same names).
func (r *Renderer) renderFiles(family Family, a Account, v *view) ([]File, error) {
	var files []File
	render := func(tmpl, name, contentType string) error {
		var buf bytes.Buffer
		if err := r.tmpl.ExecuteTemplate(&buf, tmpl, v); err != nil {
			return fmt.Errorf("render %s for %s: %w", tmpl, a.Model, err)
		}
		files = append(files, File{Name: name, ContentType: contentType, Body: buf.Bytes()})
		return nil
	}
	var err error
	switch family {
	case Yealink:
		err = render("yealink.cfg.tmpl", a.MAC+".cfg", "text/plain; charset=utf-8")
	case Polycom:
		v.PhoneFile = a.MAC + "-bulkprov.cfg"
		if err = render("polycom-master.cfg.tmpl", a.MAC+".cfg", "application/xml"); err == nil {
			err = render("polycom-phone.cfg.tmpl", v.PhoneFile, "application/xml")
		}
	case Grandstream:
		err = render("grandstream.xml.tmpl", "cfg"+a.MAC+".xml", "application/xml")
	case Cisco:
		err = render("cisco.xml.tmpl", a.MAC+".xml", "application/xml")
	case Snom:
		// Snom asks for <MAC>.xml; setting_server's {mac} is written as the
		// phone expands it, and the same bytes under the lowercase name keep
		// the chain working whichever case that is. No other family uses a
		// Snom's MAC, so the lowercase name cannot collide with a Cisco file.
		err = render("snom.xml.tmpl", strings.ToUpper(a.MAC)+".xml", "application/xml")
		if err == nil && strings.ToUpper(a.MAC) != a.MAC {
			files = append(files, File{Name: a.MAC + ".xml", ContentType: "application/xml", Body: files[0].Body})
		}
	case Fanvil:
		err = render("fanvil.xml.tmpl", a.MAC+".cfg", "application/xml")
	}
	if err != nil {
		return nil, err
	}
	return files, nil
}

// FileNames returns the names of the files Render writes for a device,
// without rendering: the server and tests use it.
func FileNames(model, mac string) []string {
	family, _ := FamilyOf(model)
	switch family {
	case Yealink, Fanvil:
		return []string{mac + ".cfg"}
	case Polycom:
		return []string{mac + ".cfg", mac + "-bulkprov.cfg"}
	case Grandstream:
		return []string{"cfg" + mac + ".xml"}
	case Cisco:
		return []string{mac + ".xml"}
	case Snom:
		if strings.ToUpper(mac) != mac {
			return []string{strings.ToUpper(mac) + ".xml", mac + ".xml"}
		}
		return []string{strings.ToUpper(mac) + ".xml"}
	}
	return nil
}

// checkValue rejects what could break out of a field in any format:
// invalid UTF-8, control characters (CR/LF, tab, NUL, C1) and the Unicode
// line/paragraph separators, and over-long values.
func checkValue(field, s string) error {
	if !utf8.ValidString(s) {
		return pbx.Errorf(pbx.CodeEncoding, field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > maxValueLen {
		return pbx.Errorf(pbx.CodeFieldTooLong, field, "is longer than %d characters", maxValueLen)
	}
	for _, c := range s {
		if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
			return pbx.Errorf(pbx.CodeControlCharacter, field, "contains a control character (%U), which a phone file cannot carry", c)
		}
	}
	return nil
}

// escapeXML escapes s for XML text and attribute values (quotes included).
func escapeXML(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

func escapeLanguage(l language, esc func(string) string) language {
	return language{
		yealink: esc(l.yealink), polycom: esc(l.polycom), grandstream: esc(l.grandstream),
		ciscoLang: esc(l.ciscoLang), ciscoLocale: esc(l.ciscoLocale), snomLang: esc(l.snomLang),
		snomTones: esc(l.snomTones), fanvil: esc(l.fanvil), fanvilTone: esc(l.fanvilTone),
	}
}

// Accessors for templates (language and zone fields are unexported so the
// tables stay internal).
func (l language) Yealink() string     { return l.yealink }
func (l language) Polycom() string     { return l.polycom }
func (l language) Grandstream() string { return l.grandstream }
func (l language) CiscoLang() string   { return l.ciscoLang }
func (l language) CiscoLocale() string { return l.ciscoLocale }
func (l language) SnomLang() string    { return l.snomLang }
func (l language) SnomTones() string   { return l.snomTones }
func (l language) Fanvil() string      { return l.fanvil }
func (l language) FanvilTone() string  { return l.fanvilTone }
func (z zone) YealinkOffset() string   { return z.yealinkOffset }
func (z zone) YealinkName() string     { return z.yealinkName }
func (z zone) SnomCode() string        { return z.snom }
func (z zone) GSP64() string           { return z.gsP64 }
func (z zone) GSP246() string          { return z.gsP246 }

// transportValue maps udp/tcp/tls to the family's own value (from the
// wazo-provd-plugins _SIP_TRANSPORT tables; Grandstream P130 per its
// admin guide).
func transportValue(f Family, t string) (string, error) {
	i := map[string]int{"udp": 0, "tcp": 1, "tls": 2}
	n, ok := i[t]
	if !ok {
		return "", pbx.Errorf(pbx.EINVALID, "provisioning.transport", "must be udp, tcp or tls, not %q", t)
	}
	values := map[Family][3]string{
		Yealink:     {"0", "1", "2"},
		Polycom:     {"UDPOnly", "TCPOnly", "TLS"},
		Grandstream: {"0", "1", "2"},
		Cisco:       {"UDP", "TCP", "TLS"},
		Snom:        {"udp", "tcp", "tls"},
		Fanvil:      {"0", "1", "3"},
	}
	return values[f][n], nil
}

// fanvilZoneName is the TimeZoneName of a whole-hour offset in wazo's
// fanvil serie_x _TZ_INFO table ("UTC-08", "UCT", "UTC+1").
func fanvilZoneName(min int) string {
	switch h := min / 60; {
	case h == 0:
		return "UCT"
	case h < 0:
		return fmt.Sprintf("UTC-%02d", -h)
	default:
		return fmt.Sprintf("UTC+%d", h)
	}
}

// fanvilRule spells the zone's DST rule in Fanvil's terms.
func fanvilRule(z zone) fanvilDST {
	h := z.offsetMin / 60
	switch z.dst {
	case dstUS:
		return fanvilDST{3, 2, 2, 11, 1, 2}
	case dstEU:
		return fanvilDST{3, -1, 1 + h, 10, -1, 2 + h}
	case dstAU:
		return fanvilDST{10, 1, 2, 4, 1, 3}
	}
	return fanvilDST{}
}

// yealinkRule spells the zone's DST rule as Yealink's start_time/end_time
// (month/week/weekday/hour, weekday 7 = Sunday, week 5 = last), the form
// of Yealink's own AutoDST table.
func yealinkRule(z zone) (start, end string) {
	h := z.offsetMin / 60
	switch z.dst {
	case dstUS:
		return "3/2/7/2", "11/1/7/2"
	case dstEU:
		return fmt.Sprintf("3/5/7/%d", 1+h), fmt.Sprintf("10/5/7/%d", 2+h)
	case dstAU:
		return "10/1/7/2", "4/1/7/3"
	}
	return "", ""
}

// polycomRule spells the zone's DST rule in Polycom's terms (dayOfWeek 1 is
// Sunday; lastInMonth picks the last such weekday).
func polycomRule(z zone) polycomDST {
	h := z.offsetMin / 60
	switch z.dst {
	case dstUS:
		return polycomDST{0, 3, 8, 2, 0, 11, 1, 2, 0}
	case dstEU:
		return polycomDST{0, 3, 25, 1 + h, 1, 10, 25, 2 + h, 1}
	case dstAU:
		return polycomDST{0, 10, 1, 2, 0, 4, 1, 3, 0}
	}
	return polycomDST{}
}

// ciscoRule is the SPA/MPP Daylight_Saving_Time_Rule: month/day/weekday/
// time, where a negative day counts from the month's end and weekday 7 is
// Sunday (the format wazo's cisco_spa plugin writes).
func ciscoRule(z zone) string {
	h := z.offsetMin / 60
	switch z.dst {
	case dstUS:
		return "start=3/8/7/2:0:0;end=11/1/7/2:0:0;save=1"
	case dstEU:
		return fmt.Sprintf("start=3/-1/7/%d:0:0;end=10/-1/7/%d:0:0;save=1", 1+h, 2+h)
	case dstAU:
		return "start=10/1/7/2:0:0;end=4/1/7/3:0:0;save=1"
	}
	return ""
}

// Location is where a tenant's files are served: the provisioning URL
// phones are given (scheme and host, e.g. https://prov.example.com) and the
// tenant's folder under it.
type Location struct {
	BaseURL string
	Path    string
}

// folderURL is the tenant folder's URL, or an error naming the setting
// when the base URL is unusable (bootstrap files carry it).
func (l Location) folderURL() (string, error) {
	u, err := url.Parse(l.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.TrimSuffix(u.Path, "/") != "" {
		return "", pbx.Errorf(pbx.EINVALID, "provisioning URL", "must be an http(s) URL with a host only, not %q", l.BaseURL)
	}
	if !pathSegmentRE.MatchString(l.Path) {
		return "", pbx.Errorf(pbx.EINVALID, "provisioning.path", "must be one path segment, not %q", l.Path)
	}
	return strings.TrimSuffix(l.BaseURL, "/") + "/" + l.Path, nil
}

// pathSegmentRE is a tenant folder: one segment of safe characters.
var pathSegmentRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// RenderBootstrap renders the bootstrap file of model (see bootstrapName)
// for a tenant's folder; ok is false when the model's phones need none.
// The file carries no account data: every phone of the model in the
// tenant reads the same one.
func (r *Renderer) RenderBootstrap(model string, loc Location) (f File, ok bool, err error) {
	name := bootstrapName(model)
	if name == "" {
		return File{}, false, nil
	}
	folder, err := loc.folderURL()
	if err != nil {
		return File{}, false, err
	}
	family, _ := FamilyOf(model)
	data := struct{ FolderURL, Models string }{FolderURL: escapeXML(folder)}
	tmpl, contentType := "", "application/xml"
	switch family {
	case Yealink:
		tmpl, contentType = "yealink-common.cfg.tmpl", "text/plain; charset=utf-8"
		var models []string
		for _, m := range Models() {
			if bootstrapName(m) == name {
				models = append(models, vendorModel(m))
			}
		}
		data.Models = strings.Join(models, ", ")
	case Cisco:
		tmpl = "cisco-bootstrap.xml.tmpl"
	case Snom:
		tmpl = "snom-bootstrap.htm.tmpl"
	}
	var buf bytes.Buffer
	if err := r.tmpl.ExecuteTemplate(&buf, tmpl, data); err != nil {
		return File{}, false, fmt.Errorf("render %s for %s: %w", tmpl, model, err)
	}
	return File{Name: name, ContentType: contentType, Body: buf.Bytes()}, true, nil
}
