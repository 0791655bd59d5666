package peers

import (
	"fmt"
	"strings"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// target is what a source column feeds.
type target int

const (
	tIgnore         target = iota
	tExtension             // our extension
	tFirstName             // first name
	tLastName              // last name
	tFullName              // a full name, split ("Ann Lee", "Lee, Ann")
	tEmail                 // email; a list keeps the first
	tEmailFallback         // email when no tEmail column has one (e.g. the voicemail address)
	tMobile                // mobile number
	tDID                   // direct number; a list keeps the first
	tMAC                   // the phone's MAC
	tCallerID              // the outbound caller ID (number, or Name <number>)
	tCallerIDName          // the outbound caller ID's name, joined with tCallerID
	tPhoneModel            // a model id of ours, or vendor and model in one cell
	tVendor                // phone vendor, joined with tModel
	tModel                 // phone model, joined with tVendor
	tTemplate              // vendor/model (FusionPBX device templates)
	tDepartment            // department (an organization path keeps its last part)
	tEnabled               // enabled flag: a disabled user is created with a warning
	tTech                  // technology/type: entries that are not SIP users are skipped
	tAction                // FreePBX legacy action: del rows are skipped
	tAliases               // Vodia aliases: the extension, then DIDs
	tDestination           // a DID route's destination: the user's extension
	tRouteCID              // a DID route's caller ID filter
	tSIPSecret             // SIP secret (imported only on request)
	tPIN                   // voicemail PIN (imported only on request)
	tPortalPassword        // a portal/web password: never imported
)

type rule struct {
	t   target
	why string // for tIgnore: why the column feeds nothing
}

func ignore(why string) rule { return rule{t: tIgnore, why: why} }
func feed(t target) rule     { return rule{t: t} }

// Profile is one peer's export format and the rules that map it.
type Profile struct {
	ID      string // stable id, e.g. "freepbx-extensions"
	Peer    string // e.g. "FreePBX"
	File    string // e.g. "Bulk Handler extensions export"
	Version int    // mapping version: bumped when the mapping changes
	Kind    Kind
	Source  string // the source the format follows (repository + path, or document)

	// Signature: every needAll name, and at least minMarkers of markers
	// (normalized names). hashHeader claims any '#'-prefixed header.
	needAll    []string
	needAny    []string
	markers    []string
	minMarkers int
	hashHeader bool

	required        [][]string // header names (alternatives) the mapping needs
	positional      []string   // normalized names read by position (3CX), whatever the header says
	positionalNames []string   // the same, as the peer writes them
	rules           map[string]rule
	other           string   // why a column the table does not list is ignored
	sipTechs        []string // tTech values that are SIP users ("" always is)
	techWhat        string   // what the tTech column is called in messages
}

func (p *Profile) matches(set map[string]bool, hash bool) bool {
	if p.hashHeader && hash {
		return true
	}
	for _, n := range p.needAll {
		if !set[n] {
			return false
		}
	}
	if len(p.needAny) > 0 {
		hit := false
		for _, n := range p.needAny {
			hit = hit || set[n]
		}
		if !hit {
			return false
		}
	}
	c := 0
	for _, m := range p.markers {
		if set[m] {
			c++
		}
	}
	return c >= p.minMarkers
}

type columnPlan struct {
	idx  int
	t    target
	name string // the header cell
}

// plan maps the header's columns and checks the required ones.
func (p *Profile) plan(names, norm []string, opts Options) (*Source, error) {
	s := &Source{Peer: p.ID, Name: p.Peer + " " + p.File, Mapping: fmt.Sprintf("%s/%d", p.ID, p.Version), Kind: p.Kind, profile: p}
	present := map[string]bool{}
	fed := map[target]string{}
	for i, n := range norm {
		key := n
		if i < len(p.positional) {
			// Read by position, as the peer does: a translated or edited
			// header name does not matter, another of its columns does.
			if key != p.positional[i] && p.isPositional(key) {
				return nil, pbx.Errorf(pbx.CodeMissingColumn, "", "%s reads its first columns by position: column %d must be %s, not %q; restore the export's column order",
					p.Peer, i+1, p.positionalNames[i], pbx.Clip(names[i]))
			}
			key = p.positional[i]
		}
		present[key] = true
		r := p.columnRule(key, names[i], opts)
		if r.t != tIgnore {
			if first, dup := fed[r.t]; dup {
				r = ignore(fmt.Sprintf("column %q already feeds %s; the first column is used", first, fieldName(r.t)))
			} else {
				fed[r.t] = names[i]
			}
		}
		use := ColumnUse{Position: i + 1, Column: names[i], Field: fieldName(r.t), Reason: r.why}
		if r.t == tIgnore {
			use.Field = Ignored
		} else {
			s.plan = append(s.plan, columnPlan{idx: i, t: r.t, name: names[i]})
		}
		s.Columns = append(s.Columns, use)
	}
	if missing := p.missing(present); len(missing) > 0 {
		return nil, missingError(p, missing)
	}
	return s, nil
}

// columnRule is the rule for the column named name (key normalized): the
// profile's, or why it is ignored. Secrets are ignored unless the upload
// imports them; portal passwords always are.
func (p *Profile) columnRule(key, name string, opts Options) rule {
	r, ok := p.rules[key]
	switch {
	case strings.TrimSpace(name) == "":
		r = ignore("no column name")
	case !ok && isSecretName(key):
		r = ignore("looks like a secret or password: never imported")
	case !ok:
		r = ignore(p.other)
	}
	switch r.t {
	case tSIPSecret:
		if !opts.ImportSecrets {
			r = ignore("SIP secret: not imported, bulkprov generates a new one (upload option import-secrets keeps it so phones keep registering)")
		}
	case tPIN:
		if !opts.ImportSecrets {
			r = ignore("voicemail PIN: not imported, bulkprov generates a new one (upload option import-secrets keeps it)")
		}
	case tPortalPassword:
		r = ignore("portal password: never imported; each user sets one from the welcome email")
	}
	return r
}

// missing lists the required columns (by their first name) that no
// header column gives.
func (p *Profile) missing(present map[string]bool) []string {
	var missing []string
	for _, alts := range p.required {
		found := false
		for _, a := range alts {
			if present[normalize(a)] {
				found = true
			}
		}
		if !found {
			missing = append(missing, alts[0])
		}
	}
	return missing
}

// fieldName is what the column report says a target feeds.
func fieldName(t target) string {
	switch t {
	case tExtension, tDestination:
		return csvin.Extension.String()
	case tFirstName:
		return csvin.FirstName.String()
	case tLastName:
		return csvin.LastName.String()
	case tFullName:
		return "first_name + last_name"
	case tEmail:
		return csvin.Email.String()
	case tEmailFallback:
		return "email (when no other email is given)"
	case tMobile:
		return csvin.Mobile.String()
	case tDID:
		return csvin.DID.String()
	case tMAC:
		return csvin.MAC.String()
	case tCallerID:
		return csvin.CallerID.String()
	case tCallerIDName:
		return "caller_id (name)"
	case tPhoneModel, tVendor, tModel, tTemplate:
		return csvin.PhoneModel.String()
	case tDepartment:
		return csvin.Department.String()
	case tEnabled:
		return "status (a disabled user is created with a warning)"
	case tTech:
		return "type (entries that are not SIP users are skipped)"
	case tAction:
		return "action (delete rows are skipped)"
	case tAliases:
		return "extension + did"
	case tRouteCID:
		return "route filter (caller ID routes are skipped)"
	case tSIPSecret:
		return "sip_secret (imported, sealed)"
	case tPIN:
		return "voicemail_pin (imported, sealed)"
	}
	return Ignored
}

// mapRow fills row.Fields from row.Raw following the plan, applying the
// peer's value conventions. Cells are read in column order, so notes and
// the first skip reason follow the file's columns.
func (s *Source) mapRow(row *Row, opts Options) {
	var c combined
	for _, cp := range s.plan {
		if cp.idx >= len(row.Raw) {
			continue
		}
		v := strings.TrimSpace(row.Raw[cp.idx])
		if v == "" {
			continue
		}
		s.mapCell(row, &c, cp, v, opts)
	}
	c.fill(row)
	if c.disabled && row.Skip == nil {
		row.note("status", pbx.CodeUserDisabled, fmt.Sprintf("the user is disabled on %s; created here enabled: remove it or keep it unused if it should stay off", s.profile.Peer))
	}
}

// combined holds the cells that feed a field only together with others
// (a full name, a vendor and a model, ...), read before fill joins them.
type combined struct {
	full, emailFallback, callerName string
	vendor, model, template         string
	disabled                        bool
}

// mapCell maps one non-empty cell: into a field, into c for fill, or into
// the row's credentials, notes or skip reason.
func (s *Source) mapCell(row *Row, c *combined, cp columnPlan, v string, opts Options) {
	f := &row.Fields
	switch cp.t {
	case tExtension:
		f[csvin.Extension] = row.first(csvin.Extension.String(), cp.name, v, ";,")
	case tFirstName:
		f[csvin.FirstName] = v
	case tLastName:
		f[csvin.LastName] = v
	case tEmail:
		f[csvin.Email] = row.first(csvin.Email.String(), cp.name, v, ",;")
	case tMobile:
		f[csvin.Mobile] = row.first(csvin.Mobile.String(), cp.name, v, ",;")
	case tDID:
		f[csvin.DID] = row.first(csvin.DID.String(), cp.name, v, ",;")
	case tMAC:
		f[csvin.MAC] = v
	case tCallerID:
		switch strings.ToLower(v) {
		case "default", "anonymous", "none": // Wazo's keywords, not numbers
		default:
			f[csvin.CallerID] = v
		}
	case tPhoneModel:
		f[csvin.PhoneModel] = v
	case tDepartment:
		f[csvin.Department] = row.department(cp.name, v)
	case tAliases:
		row.aliases(cp.name, v)
	case tFullName:
		c.full = v
	case tEmailFallback:
		c.emailFallback = row.first(csvin.Email.String(), cp.name, v, ",;")
	case tCallerIDName:
		c.callerName = v
	case tVendor:
		c.vendor = v
	case tModel:
		c.model = v
	case tTemplate:
		c.template = v
	case tEnabled:
		switch b, ok := parseFlag(v); {
		case !ok:
			row.note(cp.name, pbx.CodeInvalidValue, fmt.Sprintf("%q is not a yes/no value; the user is created enabled", pbx.Clip(v)))
		case !b:
			c.disabled = true
		}
	case tTech, tAction, tDestination, tRouteCID:
		s.profile.mapEntryCell(row, cp, v)
	case tSIPSecret:
		if opts.ImportSecrets {
			row.SIPSecret = v
		}
	case tPIN:
		if opts.ImportSecrets {
			row.PIN = v
		}
	}
}

// mapEntryCell reads the cells that say whether the row is a user to
// create at all (a SIP user, not a delete row, a route to a user): a row
// that is not gets its skip reason.
func (p *Profile) mapEntryCell(row *Row, cp columnPlan, v string) {
	switch cp.t {
	case tTech:
		if !p.sipTech(v) {
			row.skip(cp.name, pbx.CodeNotSIPUser, fmt.Sprintf("%s %q on %s is not a SIP user; not created", p.techWhat, pbx.Clip(v), p.Peer))
		}
	case tAction:
		switch strings.ToLower(v) {
		case "del", "delete", "remove":
			row.skip(cp.name, pbx.CodeDeleteRow, fmt.Sprintf("a %q row deletes an extension on %s; nothing is created", pbx.Clip(v), p.Peer))
		}
	case tDestination:
		ext, what := freePBXDestination(v)
		if ext == "" {
			row.skip(cp.name, pbx.CodeNotUserRoute, "the route goes to "+what+", not to a user; skipped")
		} else {
			row.Fields[csvin.Extension] = ext
		}
	case tRouteCID:
		row.skip(cp.name, pbx.CodeNotUserRoute, fmt.Sprintf("the route applies only to calls from %s; only a DID's main route is attached, skipped", pbx.Clip(v)))
	}
}

// fill joins the combined cells into the fields no column set directly:
// the name from a full name, the email from its fallback, the caller ID's
// name, and the phone model from vendor, model or template.
func (c *combined) fill(row *Row) {
	f := &row.Fields
	if f[csvin.FirstName] == "" && f[csvin.LastName] == "" && c.full != "" {
		f[csvin.FirstName], f[csvin.LastName] = SplitName(c.full)
	}
	if f[csvin.Email] == "" {
		f[csvin.Email] = c.emailFallback
	}
	if c.callerName != "" && f[csvin.CallerID] != "" && !strings.Contains(f[csvin.CallerID], "<") {
		f[csvin.CallerID] = c.callerName + " <" + f[csvin.CallerID] + ">"
	}
	if f[csvin.PhoneModel] == "" && (c.vendor != "" || c.model != "" || c.template != "") {
		c.fillPhoneModel(row)
	} else if f[csvin.PhoneModel] != "" {
		checkPhoneModel(row)
	}
}

// fillPhoneModel maps the vendor and model cells, or a FusionPBX template
// ("yealink/t54w"), to one of our models.
func (c *combined) fillPhoneModel(row *Row) {
	vendor, model := c.vendor, c.model
	if c.template != "" {
		if v, m, ok := strings.Cut(c.template, "/"); ok {
			vendor, model = v, m
		} else {
			model = c.template
		}
	}
	id, code, msg := MapPhoneModel(vendor, model)
	row.Fields[csvin.PhoneModel] = id
	if code != "" {
		row.note(csvin.PhoneModel.String(), code, msg)
	}
}

// checkPhoneModel maps a phone model cell to one of our models, noting a
// near match (not a mere change of case) and clearing one with none.
func checkPhoneModel(row *Row) {
	pm := row.Fields[csvin.PhoneModel]
	id, code, msg := MapPhoneModel("", pm)
	if id == "" {
		row.Fields[csvin.PhoneModel] = ""
		row.note(csvin.PhoneModel.String(), code, msg)
		return
	}
	row.Fields[csvin.PhoneModel] = id
	if code != "" && id != strings.ToLower(pm) {
		row.note(csvin.PhoneModel.String(), code, msg)
	}
}

func (p *Profile) isPositional(n string) bool {
	for _, q := range p.positional {
		if q == n {
			return true
		}
	}
	return false
}

func (p *Profile) sipTech(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return true
	}
	for _, t := range p.sipTechs {
		if v == t {
			return true
		}
	}
	return false
}

func (r *Row) note(column, code, msg string) {
	r.Notes = append(r.Notes, Note{Column: column, Code: code, Message: msg})
}

func (r *Row) skip(column, code, msg string) {
	if r.Skip == nil {
		r.Skip = &Note{Column: column, Code: code, Message: msg}
	}
}

// first keeps the first value of a multi-valued cell, with a warning.
func (r *Row) first(field, column, v, seps string) string {
	parts := strings.FieldsFunc(v, func(c rune) bool { return strings.ContainsRune(seps, c) })
	var vals []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			vals = append(vals, p)
		}
	}
	if len(vals) <= 1 {
		return strings.TrimSpace(strings.Trim(v, seps))
	}
	r.note(field, pbx.CodeMultipleValues, fmt.Sprintf("column %q has %d values; %s keeps the first, %s (one %s per user here)",
		column, len(vals), field, pbx.Clip(vals[0]), field))
	return vals[0]
}

// department keeps the last part of an organization path
// ("Acme/Sales" → "Sales"); several organizations keep the first.
func (r *Row) department(column, v string) string {
	if strings.Contains(v, "&") {
		v = r.first(csvin.Department.String(), column, v, "&")
	}
	if i := strings.LastIndexByte(v, '/'); i >= 0 && i < len(v)-1 {
		v = strings.TrimSpace(v[i+1:])
	}
	return v
}

// aliases reads Vodia's alias list: the extension first, then other
// names or numbers; the first long number becomes the DID.
func (r *Row) aliases(column, v string) {
	parts := strings.FieldsFunc(v, func(c rune) bool { return c == ' ' || c == ',' || c == ';' })
	var extra []string
	for i, a := range parts {
		switch {
		case i == 0:
			r.Fields[csvin.Extension] = a
		case allDigits(strings.TrimPrefix(a, "+")) && len(a) >= 7 && r.Fields[csvin.DID] == "":
			r.Fields[csvin.DID] = a
		default:
			extra = append(extra, a)
		}
	}
	if len(extra) > 0 {
		r.note(csvin.Extension.String(), pbx.CodeMultipleValues, fmt.Sprintf("column %q has more aliases (%s); only the extension and one DID are kept",
			column, pbx.Clip(strings.Join(extra, " "))))
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
