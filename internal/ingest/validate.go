// Package ingest turns an uploaded users CSV into a job: it validates every
// row (each field, across rows, and against the tenant's stored data),
// writes the valid rows and a validation report, and starts the workflow.
// Validate is the one code path for the Lambda handler and `bulkprov
// validate`.
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/peers"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TenantLookup reads what the tenant (and other tenants) already have for
// a batch of rows; *store.Store satisfies it.
type TenantLookup interface {
	LookupTenantData(ctx context.Context, tenant string, exts, dids, macs []string) (store.TenantData, error)
}

// Sealers hands out a tenant's sealer; *secrets.Box satisfies it.
type Sealers interface {
	Sealer(ctx context.Context, tenant string) (*secrets.Sealer, error)
}

// Input is what Validate needs besides the file.
type Input struct {
	Tenant string
	// Job is the job validating. An extension this job created is not an
	// existing user: S3 event notifications are "designed to be delivered
	// at least once" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/NotificationHowTo.html),
	// so an upload's event can come twice, and a second
	// ingest of a job still VALIDATING redoes it (ingest.Handler) while the
	// first may already have started creating its rows; both must reach the
	// same verdict.
	Job      string
	Settings pbx.Settings // effective settings, upload options included
	// Lookup checks rows against stored data. Nil means there is none to
	// check against (`bulkprov validate` without --state): the checks
	// that need it are skipped, everything else is the same.
	Lookup TenantLookup
	// KnownPhoneModel reports whether a phone_model cell names a model the
	// provisioning package can configure. Nil accepts any non-empty
	// [a-z0-9-] name.
	KnownPhoneModel func(string) bool
	// Rows receives each valid row, in line order; Rejected receives each
	// invalid or skipped row, in line order. Either may be nil. When the
	// report ends with a FileError, what they received must be discarded.
	Rows     func(pbx.UserRow) error
	Rejected func(events.RowResult) error
	// LookupBatch is the number of rows checked against stored data per
	// lookup (default 250).
	LookupBatch int
	// Secrets seals the SIP secrets and PINs an upload imports (option
	// import-secrets). Nil checks them without sealing (`bulkprov validate`).
	Secrets Sealers
	Logger  *slog.Logger
}

// Issue is one problem in the upload: a row's error or warning, or the
// file-level problem that made the file unusable (Line 0 when it has no
// line, Column "" when no column is at fault).
type Issue struct {
	Line    int    `json:"line"`
	Column  string `json:"column"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Report is the outcome of validating one upload. Rows counts the data
// rows read (blank lines and the header excluded) = Valid + Invalid +
// Skipped.
type Report struct {
	Tenant    string  `json:"tenant"`
	Encoding  string  `json:"encoding,omitempty"`
	Delimiter string  `json:"delimiter,omitempty"`
	Rows      int     `json:"rows"`
	Valid     int     `json:"valid"`
	Invalid   int     `json:"invalid"`
	Skipped   int     `json:"skipped"`
	FileError *Issue  `json:"file_error,omitempty"`
	Errors    []Issue `json:"errors"`
	Warnings  []Issue `json:"warnings"`
	// Source is the column report: the peer whose export the file is (or
	// bulkprov's own format) and what each column fed or why it was ignored.
	Source *peers.Source `json:"source,omitempty"`
}

// fileError records a file-level problem (also listed in Errors).
func (r *Report) fileError(line int, err error) {
	var e *pbx.Error
	issue := Issue{Line: line, Code: pbx.CodeFileUnreadable, Message: "the file could not be read"}
	if errors.As(err, &e) {
		issue.Code, issue.Column, issue.Message = e.Code, e.Field, e.Message
		if e.Field == "settings" || e.Code == pbx.EINVALID {
			issue.Code = pbx.CodeBadOption
		}
	}
	r.FileError = &issue
	r.Errors = append(r.Errors, issue)
}

// FileFailure returns the report for an upload that cannot be used at all,
// e.g. because its options are invalid, with err's message.
func FileFailure(tenant string, err error) *Report {
	r := &Report{Tenant: tenant, Errors: []Issue{}, Warnings: []Issue{}}
	r.fileError(0, err)
	return r
}

// Field length bounds: the PBX's own limits for names and labels.
const (
	maxNameRunes  = 64
	maxLabelRunes = 100
)

// Validate reads the CSV from r and validates every row, reporting all
// problems at once. Problems with the file itself end in a report with a
// FileError and a nil error; the error is for failures worth retrying
// (reading the source, the tenant-data lookup, a callback).
func Validate(ctx context.Context, r io.Reader, in Input) (*Report, error) {
	s := in.Settings
	v := newValidator(in)
	rd := peers.NewReader(r, csvin.Limits{MaxBytes: s.MaxObjectBytes, MaxRows: s.MaxRows}, peers.Options{ImportSecrets: s.Upload.ImportSecrets})
	src, h, err := rd.Header()
	if err != nil {
		return v.finish(rd, err)
	}
	v.report.Encoding, v.report.Delimiter, v.report.Source = rd.Encoding(), string(h.Delimiter), src
	v.kind, v.peer = src.Kind, src.Peer != peers.OwnFormat
	if !v.peer {
		for _, name := range h.Unknown {
			v.report.Warnings = append(v.report.Warnings, Issue{Line: h.Line, Column: name, Code: pbx.CodeUnknownColumn,
				Message: fmt.Sprintf("column %q is not one bulkprov knows and is ignored; known columns: %s", name, strings.Join(csvin.CanonicalHeader(), ", "))})
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return v.report, err
		}
		row, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return v.finish(rd, err)
		}
		v.batch = append(v.batch, pending{})
		v.checkPeerRow(row, &v.batch[len(v.batch)-1])
		if len(v.batch) >= v.batchN {
			if err := v.flush(ctx); err != nil {
				return v.report, err
			}
		}
	}
	if err := v.flush(ctx); err != nil {
		return v.report, err
	}
	v.report.Encoding = rd.Encoding() // Windows-1252 may have been detected late
	if v.report.Rows == 0 {
		// An exported template or an empty tenant's export: say so rather
		// than end a job DONE with nothing in it.
		v.report.fileError(h.Line, pbx.Errorf(pbx.CodeNoRows, "", "the file has a header but no data rows; there is nothing to import"))
	}
	return v.report, nil
}

// newValidator returns the validator of one file, with in's defaults.
func newValidator(in Input) *validator {
	v := &validator{
		in:      in,
		report:  &Report{Tenant: in.Tenant, Errors: []Issue{}, Warnings: []Issue{}},
		known:   in.KnownPhoneModel,
		seed:    maphash.MakeSeed(),
		phones:  pbx.NewPhoneNormalizer(4096),
		batchN:  in.LookupBatch,
		macsOff: !in.Settings.Provisioning.Enabled,
	}
	if v.known == nil {
		v.known = defaultKnownPhoneModel
	}
	if v.batchN <= 0 {
		v.batchN = 250
	}
	v.reserved = make(map[string]bool, len(in.Settings.ReservedExtensions))
	for _, e := range in.Settings.ReservedExtensions {
		v.reserved[e] = true
	}
	return v
}

// finish ends validation on a reader error: a *pbx.Error is the file's
// problem, recorded in the report; anything else is returned.
func (v *validator) finish(rd *peers.Reader, err error) (*Report, error) {
	var e *pbx.Error
	if !errors.As(err, &e) {
		return v.report, err
	}
	v.batch = v.batch[:0] // rows after the problem are not reported
	v.report.fileError(rd.Line(), e)
	return v.report, nil
}

func defaultKnownPhoneModel(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

type validator struct {
	in       Input
	report   *Report
	known    func(string) bool
	reserved map[string]bool
	macsOff  bool
	kind     peers.Kind // users, or a companion file's rows
	peer     bool       // read with a peer's mapping

	// In-file duplicate index: a compact key per value and the line it
	// was first seen on. Emails are keyed by a 61-bit hash of the lowercased
	// address (a false duplicate needs a collision, ~4e-9 at 100k rows).
	seed  maphash.Seed
	dedup dedupIndex

	phones *pbx.PhoneNormalizer

	batch  []pending
	batchN int
}

// pending is a row waiting for the tenant-data check of its batch.
type pending struct {
	row      pbx.UserRow
	errs     []Issue
	warnings []Issue
	skipped  bool
	extOK    bool   // the extension is well-formed (worth looking up)
	callerID string // the caller ID number shown, E.164, when not the extension
	// sipSecret and pin are imported plaintexts, sealed and cleared at
	// flush; never reported.
	sipSecret, pin string
}

func (p *pending) fail(col csvin.Column, code, format string, args ...any) {
	p.errs = append(p.errs, Issue{Line: p.row.Line, Column: col.String(), Code: code, Message: fmt.Sprintf(format, args...)})
}

func (p *pending) failErr(col csvin.Column, err error) {
	p.errs = append(p.errs, Issue{Line: p.row.Line, Column: col.String(), Code: pbx.ErrorCode(err), Message: pbx.ErrorMessage(err)})
}

func (p *pending) warn(col string, code, format string, args ...any) {
	p.warnings = append(p.warnings, Issue{Line: p.row.Line, Column: col, Code: code, Message: fmt.Sprintf(format, args...)})
}

// checkPeerRow applies what the peer's mapping found (a row that is not a
// user to create, warnings) and validates the row.
func (v *validator) checkPeerRow(row *peers.Row, p *pending) {
	if row.Skip != nil {
		p.row.Line = row.Line
		p.row.Extension = strings.TrimSpace(row.Fields[csvin.Extension])
		p.row.FirstName, p.row.LastName = strings.TrimSpace(row.Fields[csvin.FirstName]), strings.TrimSpace(row.Fields[csvin.LastName])
		for _, n := range row.Notes {
			p.warn(n.Column, n.Code, "%s", n.Message)
		}
		p.warn(row.Skip.Column, row.Skip.Code, "%s", row.Skip.Message)
		p.skipped = true
		return
	}
	v.checkRow(&row.Record, p)
	for _, n := range row.Notes {
		p.warn(n.Column, n.Code, "%s", n.Message)
	}
	if v.kind == peers.KindUsers {
		v.checkImported(row, p)
	}
}

// checkImported keeps a row's own SIP secret and PIN when they are usable;
// the values themselves never appear in a message.
func (v *validator) checkImported(row *peers.Row, p *pending) {
	if s := row.SIPSecret; s != "" {
		if len(s) < 8 || len(s) > 128 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
			p.warn("sip_secret", pbx.CodeInvalidValue, "the imported SIP secret is not 8-128 printable characters without spaces; a new one is generated")
		} else {
			p.sipSecret = s
		}
	}
	if pin := row.PIN; pin != "" {
		if !allDigits(pin) || len(pin) < 4 || len(pin) > 12 {
			p.warn("voicemail_pin", pbx.CodeInvalidValue, "the imported voicemail PIN is not 4-12 digits; a new one is generated")
		} else {
			p.pin = pin
		}
	}
}

// sealImported seals the batch's imported secrets with one data key and
// clears the plaintexts.
func (v *validator) sealImported(ctx context.Context) error {
	var sealer *secrets.Sealer
	for i := range v.batch {
		p := &v.batch[i]
		if p.sipSecret == "" && p.pin == "" {
			continue
		}
		if len(p.errs) > 0 || p.skipped || v.in.Secrets == nil {
			p.sipSecret, p.pin = "", ""
			continue
		}
		if sealer == nil {
			var err error
			if sealer, err = v.in.Secrets.Sealer(ctx, v.in.Tenant); err != nil {
				return fmt.Errorf("seal imported secrets of tenant %s: %w", v.in.Tenant, err)
			}
		}
		sip := pbx.SIPUserName(p.row.Extension, v.in.Tenant)
		imp := &pbx.ImportedCredentials{}
		for _, x := range []struct {
			plain   string
			binding string
			out     *json.RawMessage
		}{{p.sipSecret, pbx.SIPSecretBinding(sip), &imp.SIPSecret}, {p.pin, pbx.PINBinding(sip), &imp.PIN}} {
			if x.plain == "" {
				continue
			}
			sealed, err := sealer.Seal([]byte(x.plain), x.binding)
			if err != nil {
				return fmt.Errorf("seal imported secret of line %d: %w", p.row.Line, err)
			}
			if *x.out, err = json.Marshal(sealed); err != nil {
				return err
			}
		}
		p.row.Imported = imp
		p.sipSecret, p.pin = "", ""
	}
	return nil
}

// cells are a row's trimmed fields; bad marks a field already reported
// (and emptied), so no second error names it.
type cells struct {
	f   [csvin.NumColumns]string
	bad [csvin.NumColumns]bool
}

// missing reports whether column c is empty without an error of its own.
func (c *cells) missing(col csvin.Column) bool { return c.f[col] == "" && !c.bad[col] }

// checkRow validates one row on its own and against earlier rows.
func (v *validator) checkRow(rec *csvin.Record, p *pending) {
	p.row.Line = rec.Line
	c := readCells(rec, p)
	if rec.Extra > 0 {
		p.warn("", pbx.CodeUnknownColumn, "the row has %d cell(s) beyond the header's last column; they are ignored", rec.Extra)
	}
	v.checkExtension(c, p)
	v.checkNames(c, p)
	v.checkContact(c, p)
	v.checkPhone(c, p)
	checkLabels(c, p)
	if v.peer && p.row.CallerID != "" {
		p.row.CallerID = v.callerIDE164(p.row.CallerID)
	}
	v.checkCallerID(p)

	v.checkDuplicates(p)
}

// readCells trims the row's fields, undoes `bulkprov export`'s formula
// escaping and refuses control characters and broken encodings.
func readCells(rec *csvin.Record, p *pending) *cells {
	var c cells
	for col := range csvin.NumColumns {
		f := strings.TrimSpace(rec.Fields[col])
		if f == "" {
			continue
		}
		if len(f) > 1 && f[0] == '\'' && strings.IndexByte("=@+-", f[1]) >= 0 {
			f = f[1:] // a formula-escaped cell, as `bulkprov export` writes it
		}
		if msg := pbx.CheckText(f); msg != "" {
			code := pbx.CodeControlCharacter
			if strings.ContainsRune(f, utf8.RuneError) {
				code = pbx.CodeEncoding
			}
			p.fail(col, code, "%s", msg)
			f, c.bad[col] = "", true
		}
		c.f[col] = f
	}
	return &c
}

// checkExtension checks the extension's digits, length and reserved
// numbers; p.extOK says it may be checked further.
func (v *validator) checkExtension(c *cells, p *pending) {
	s := &v.in.Settings
	ext := c.f[csvin.Extension]
	p.row.Extension = ext
	switch {
	case c.missing(csvin.Extension):
		p.fail(csvin.Extension, pbx.CodeRequired, "extension is required")
	case ext == "":
	case !allDigits(ext):
		p.fail(csvin.Extension, pbx.CodeInvalidExtension, "extension %q must be digits only", pbx.Clip(ext))
	case len(ext) < s.ExtensionMinLen || len(ext) > s.ExtensionMaxLen:
		p.fail(csvin.Extension, pbx.CodeInvalidExtension, "extension %s must be %d to %d digits long", ext, s.ExtensionMinLen, s.ExtensionMaxLen)
	case v.reserved[ext]:
		p.fail(csvin.Extension, pbx.CodeReservedExtension, "extension %s is reserved (a feature code or emergency number)", ext)
	default:
		p.extOK = true
	}
}

// checkNames requires a user's name (a companion row's DID or MAC instead)
// and bounds its length.
func (v *validator) checkNames(c *cells, p *pending) {
	p.row.FirstName, p.row.LastName = c.f[csvin.FirstName], c.f[csvin.LastName]
	switch {
	case v.kind == peers.KindDIDRoutes && c.missing(csvin.DID):
		p.fail(csvin.DID, pbx.CodeRequired, "the route has no DID number")
	case v.kind == peers.KindDevices && c.missing(csvin.MAC):
		p.fail(csvin.MAC, pbx.CodeRequired, "the device has no MAC address")
	case v.kind != peers.KindUsers: // companion rows attach to a user: no names
	case c.missing(csvin.FirstName) && c.missing(csvin.LastName):
		p.fail(csvin.FirstName, pbx.CodeRequired, "a first name or a last name is required")
	default:
		for _, col := range []csvin.Column{csvin.FirstName, csvin.LastName} {
			if n := utf8.RuneCountInString(c.f[col]); n > maxNameRunes {
				p.fail(col, pbx.CodeInvalidName, "%s is %d characters long; at most %d are allowed", col, n, maxNameRunes)
			}
		}
	}
}

// checkContact checks the email address (a bare addr-spec) and normalizes
// the mobile and DID numbers, each parsed once.
func (v *validator) checkContact(c *cells, p *pending) {
	region := v.in.Settings.DefaultRegion
	if e := c.f[csvin.Email]; e != "" {
		if msg := pbx.CheckEmail(e); msg != "" {
			p.fail(csvin.Email, pbx.CodeInvalidEmail, "%q %s", pbx.Clip(e), msg)
		} else {
			p.row.Email = e
		}
	}
	if m := c.f[csvin.Mobile]; m != "" {
		if n, err := v.phones.Normalize(m, region, "mobile"); err != nil {
			p.failErr(csvin.Mobile, err)
		} else {
			p.row.Mobile = n
		}
	}
	if d := c.f[csvin.DID]; d != "" {
		if n, err := v.phones.Normalize(d, region, "did"); err != nil {
			p.failErr(csvin.DID, err)
		} else {
			p.row.DID = n
		}
	}
}

// checkPhone checks the phone model and the MAC, only meaningful when
// phones are provisioned; the row's phone_model (else the tenant's
// default) decides the file.
func (v *validator) checkPhone(c *cells, p *pending) {
	pm := strings.ToLower(c.f[csvin.PhoneModel])
	if pm != "" {
		if !v.known(pm) {
			p.failErr(csvin.PhoneModel, pbx.UnknownPhoneModelError(pbx.Clip(pm)))
			pm = ""
		} else {
			p.row.PhoneModel = pm
		}
	}
	m := c.f[csvin.MAC]
	if m == "" {
		return
	}
	prov := v.in.Settings.Provisioning
	model := pm
	if model == "" {
		model = prov.DefaultPhoneModel
	}
	switch {
	case v.macsOff:
		p.warn(csvin.MAC.String(), pbx.CodeMACIgnored, "MAC %s ignored: device provisioning is not enabled for this tenant", pbx.Clip(m))
	case model == "" && c.f[csvin.PhoneModel] == "":
		p.warn(csvin.MAC.String(), pbx.CodeMACIgnored, "MAC %s ignored: the row has no phone_model and the tenant has no default phone model", pbx.Clip(m))
	default:
		mac, err := pbx.NormalizeMAC(m)
		if err != nil {
			p.failErr(csvin.MAC, err)
			return
		}
		p.row.MAC = mac
		if model != "" && pbx.PhoneFamily(model) != "" && !prov.ProvisionsFamily(pbx.PhoneFamily(model)) {
			p.warn(csvin.PhoneModel.String(), pbx.CodeMACIgnored, "%s", strings.TrimPrefix(pbx.FamilyNotProvisionedWarning(model), pbx.CodeMACIgnored+": "))
		}
	}
}

// checkLabels bounds the caller ID and department; one too long is
// dropped after its error.
func checkLabels(c *cells, p *pending) {
	for _, col := range []csvin.Column{csvin.CallerID, csvin.Department} {
		if n := utf8.RuneCountInString(c.f[col]); n > maxLabelRunes {
			p.fail(col, pbx.CodeFieldTooLong, "%s is %d characters long; at most %d are allowed", col, n, maxLabelRunes)
			c.f[col] = ""
		}
	}
	p.row.CallerID, p.row.Department = c.f[csvin.CallerID], c.f[csvin.Department]
}

// callerIDE164 writes a peer's caller ID number ("4155550100",
// `"Ann Lee" <4155550100>`) in E.164 by the tenant's region; a value that
// is not a phone number is kept as it is.
func (v *validator) callerIDE164(cid string) string {
	name, num := "", cid
	if i := strings.LastIndexByte(cid, '<'); i >= 0 && strings.HasSuffix(cid, ">") {
		name, num = strings.TrimSpace(cid[:i]), strings.TrimSpace(cid[i+1:len(cid)-1])
	}
	n, err := v.phones.Normalize(num, v.in.Settings.DefaultRegion, "caller_id")
	if err != nil {
		return cid
	}
	if name != "" {
		return name + " <" + n + ">"
	}
	return n
}

// checkDuplicates compares the row's values with earlier rows'. Only a
// row without other errors claims its values, so that a duplicate error
// always points at a row that could be created.
func (v *validator) checkDuplicates(p *pending) {
	type claim struct {
		kind    uint64
		key     uint64
		ok      bool
		col     csvin.Column
		what    string
		display string
	}
	r := &p.row
	claims := [4]claim{
		{kind: kindExtension, col: csvin.Extension, what: "extension", display: r.Extension},
		{kind: kindEmail, col: csvin.Email, what: "email", display: r.Email},
		{kind: kindDID, col: csvin.DID, what: "DID", display: r.DID},
		{kind: kindMAC, col: csvin.MAC, what: "MAC", display: r.MAC},
	}
	claims[0].key, claims[0].ok = extensionKey(r.Extension), p.extOK
	if r.Email != "" {
		claims[1].key, claims[1].ok = maphash.String(v.seed, strings.ToLower(r.Email)), true
	}
	if r.DID != "" {
		claims[2].key, claims[2].ok = digitsKey(r.DID[1:]), true
	}
	if r.MAC != "" {
		k, err := strconv.ParseUint(r.MAC, 16, 64)
		claims[3].key, claims[3].ok = k, err == nil
	}
	for _, c := range claims {
		if !c.ok {
			continue
		}
		if line, dup := v.dedup.lookup(c.kind, c.key); dup {
			if c.kind == kindExtension && v.kind != peers.KindUsers && len(p.errs) == 0 {
				// A second route or phone for one user: ours have one each.
				p.warn(c.col.String(), pbx.CodeDuplicateInFile, "extension %s already gets %s from line %d; one per user here, this row is skipped",
					c.display, map[peers.Kind]string{peers.KindDIDRoutes: "a DID", peers.KindDevices: "a phone"}[v.kind], line)
				p.skipped = true
				return
			}
			p.fail(c.col, pbx.CodeDuplicateInFile, "%s %s is already on line %d", c.what, c.display, line)
		}
	}
	if len(p.errs) > 0 {
		return
	}
	for _, c := range claims {
		if c.ok {
			v.dedup.claim(c.kind, c.key, int32(r.Line))
		}
	}
}

// flush checks the batch against stored data and hands each row on.
func (v *validator) flush(ctx context.Context) error {
	if len(v.batch) == 0 {
		return nil
	}
	if v.in.Lookup != nil {
		if err := v.checkTenantData(ctx); err != nil {
			return err
		}
	}
	if err := v.sealImported(ctx); err != nil {
		return err
	}
	rep := v.report
	for i := range v.batch {
		p := &v.batch[i]
		rep.Rows++
		rep.Errors = append(rep.Errors, p.errs...)
		rep.Warnings = append(rep.Warnings, p.warnings...)
		switch {
		case len(p.errs) > 0:
			rep.Invalid++
			if v.in.Rejected != nil {
				if err := v.in.Rejected(rejected(p, events.StatusInvalid, p.errs)); err != nil {
					return err
				}
			}
		case p.skipped:
			rep.Skipped++
			if v.in.Rejected != nil {
				if err := v.in.Rejected(rejected(p, events.StatusSkipped, p.warnings[len(p.warnings)-1:])); err != nil {
					return err
				}
			}
		default:
			rep.Valid++
			if v.in.Rows != nil {
				if err := v.in.Rows(p.row); err != nil {
					return err
				}
			}
		}
	}
	clear(v.batch)
	v.batch = v.batch[:0]
	return nil
}

// rejected is the report line of a row ingest does not pass on.
func rejected(p *pending, status string, issues []Issue) events.RowResult {
	msgs := make([]string, len(issues))
	for i, is := range issues {
		msgs[i] = is.Column + ": " + is.Message
	}
	var warnings []string
	for _, w := range p.warnings {
		if status != events.StatusSkipped {
			warnings = append(warnings, w.Column+": "+w.Message)
		}
	}
	return events.RowResult{
		Line:      p.row.Line,
		Extension: p.row.Extension,
		Name:      p.row.DisplayName(),
		Email:     p.row.Email,
		DID:       p.row.DID,
		MAC:       p.row.MAC,
		Status:    status,
		Code:      issues[0].Code,
		Message:   strings.Join(msgs, "; "),
		Warnings:  warnings,
	}
}

// checkTenantData looks the batch's extensions, DIDs and MACs up in one
// batched read and applies the upload's options to what exists.
func (v *validator) checkTenantData(ctx context.Context) error {
	exts, dids, macs := v.batchKeys()
	td, err := v.in.Lookup.LookupTenantData(ctx, v.in.Tenant, exts, dids, macs)
	if err != nil {
		return fmt.Errorf("look up tenant %s data for lines %d-%d: %w", v.in.Tenant, v.batch[0].row.Line, v.batch[len(v.batch)-1].row.Line, err)
	}
	for i := range v.batch {
		p := &v.batch[i]
		if p.skipped {
			continue
		}
		v.checkExisting(p, td)
		v.checkNumbers(p, td)
		v.checkMACOwner(p, td)
		if p.skipped && len(p.errs) == 0 {
			p.warn(csvin.Extension.String(), pbx.CodeExtensionExists, "extension %s already exists; row skipped (on-existing=skip)", p.row.Extension)
		}
	}
	if v.kind != peers.KindUsers {
		return v.attach(ctx)
	}
	return nil
}

// batchKeys returns what the batch's rows look up in the tenant's data.
func (v *validator) batchKeys() (exts, dids, macs []string) {
	for i := range v.batch {
		r := &v.batch[i].row
		if v.batch[i].extOK {
			exts = append(exts, r.Extension)
		}
		if r.DID != "" {
			dids = append(dids, r.DID)
		}
		if n := v.batch[i].callerID; n != "" && n != r.DID {
			dids = append(dids, n) // its owner item says whether it is the tenant's
		}
		if r.MAC != "" {
			macs = append(macs, r.MAC)
		}
	}
	return exts, dids, macs
}

// checkExisting applies on-existing to a user row whose extension exists;
// a companion row needs its user to exist.
func (v *validator) checkExisting(p *pending, td store.TenantData) {
	r := &p.row
	createdBy, exists := td.Extensions[r.Extension]
	switch {
	case v.kind != peers.KindUsers:
		// A companion row attaches to an existing user, whatever on-existing says.
		if p.extOK && !exists {
			p.fail(csvin.Extension, pbx.CodeNoSuchUser, "no user has extension %s: %s attach to existing users and never create one; import the users file first",
				r.Extension, companionWhat(v.kind))
		}
	case p.extOK && exists && !(v.in.Job != "" && createdBy == v.in.Job):
		switch v.in.Settings.Upload.OnExisting {
		case pbx.OnExistingSkip:
			p.skipped = true
		case pbx.OnExistingUpdate:
			r.Exists = true
		default:
			p.fail(csvin.Extension, pbx.CodeExtensionExists, "extension %s already exists; upload with on-existing=update or skip to change or keep it", r.Extension)
		}
	}
}

// checkNumbers checks that the row's DID and caller ID are numbers the
// tenant may use.
//
// Issue #17: a DID the tenant may not use gets one answer whatever the
// reason (another tenant's, not in the operator's inventory, free but not
// allowed), so validation is no oracle of other tenants' numbers. A free
// number the operator lets the tenant take is named as such: it belongs to
// nobody.
func (v *validator) checkNumbers(p *pending, td store.TenantData) {
	r := &p.row
	if r.DID != "" {
		switch {
		case td.OwnedDIDs[r.DID]:
		case td.ClaimableDIDs[r.DID] && v.in.Settings.Upload.CreateDIDs:
		case td.ClaimableDIDs[r.DID]:
			p.fail(csvin.DID, pbx.CodeDIDNotOwned, "DID %s is a free number, not yet this tenant's; upload with create-dids to take it", r.DID)
		default:
			p.fail(csvin.DID, pbx.CodeDIDUnavailable, "DID %s is not available to this tenant; use one of its own numbers or ask the operator to assign it", r.DID)
		}
	}
	if n := p.callerID; n != "" && n != r.DID && !td.OwnedDIDs[n] && !td.AllowedCallerIDs[n] {
		p.fail(csvin.CallerID, pbx.CodeCallerIDNotAllowed, "caller ID %s is not one of this tenant's numbers; use one of its DIDs or a number the operator allowed", n)
	}
}

// checkMACOwner refuses a MAC on another of the tenant's endpoints. Only
// the tenant's own MACs are looked at: a MAC on another tenant's phone is
// answered like a MAC never seen (it fails when the row is written), so
// validation lists no other tenant's phones.
func (v *validator) checkMACOwner(p *pending, td store.TenantData) {
	r := &p.row
	if r.MAC == "" {
		return
	}
	if ep, ours := td.MACEndpoints[r.MAC]; ours && ep != pbx.SIPUserName(r.Extension, v.in.Tenant) {
		p.fail(csvin.MAC, pbx.CodeMACTaken, "MAC %s is already used by endpoint %s", r.MAC, ep)
	}
}

// UserReader reads a stored user back; *store.Store satisfies it.
type UserReader interface {
	GetUser(ctx context.Context, tenant, ext string) (store.UserRecord, bool, error)
}

func companionWhat(k peers.Kind) string {
	if k == peers.KindDevices {
		return "device rows"
	}
	return "DID routes"
}

// attach turns each valid companion row into an update of its user: the
// stored user with the route's DID, or the device's MAC and model.
func (v *validator) attach(ctx context.Context) error {
	ur, canRead := v.in.Lookup.(UserReader)
	for i := range v.batch {
		p := &v.batch[i]
		if p.skipped || len(p.errs) > 0 {
			continue
		}
		r := &p.row
		if !canRead { // never pass a companion row on as a user to create
			p.fail(csvin.Extension, pbx.CodeNoSuchUser, "extension %s: the stored users cannot be read here, so nothing is attached", r.Extension)
			continue
		}
		u, found, err := ur.GetUser(ctx, v.in.Tenant, r.Extension)
		if err != nil {
			return fmt.Errorf("read user %s of tenant %s (line %d): %w", r.Extension, v.in.Tenant, r.Line, err)
		}
		if !found {
			p.fail(csvin.Extension, pbx.CodeNoSuchUser, "no user has extension %s: %s attach to existing users and never create one; import the users file first",
				r.Extension, companionWhat(v.kind))
			continue
		}
		merged := pbx.UserRow{Line: r.Line, Extension: r.Extension, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
			Mobile: u.Mobile, DID: u.DID, MAC: u.MAC, CallerID: u.CallerID, PhoneModel: u.PhoneModel, Department: u.Department, Exists: true}
		switch v.kind {
		case peers.KindDIDRoutes:
			if u.DID != "" && u.DID != r.DID {
				p.warn(csvin.DID.String(), pbx.CodeMultipleValues, "extension %s had DID %s; the route's DID %s replaces it (one DID per user)", r.Extension, u.DID, r.DID)
			}
			merged.DID = r.DID
		case peers.KindDevices:
			if u.MAC != "" && u.MAC != r.MAC {
				p.warn(csvin.MAC.String(), pbx.CodeMultipleValues, "extension %s had phone %s; this device %s replaces it (one phone per user)", r.Extension, u.MAC, r.MAC)
			}
			merged.MAC = r.MAC
			if r.PhoneModel != "" {
				merged.PhoneModel = r.PhoneModel
			}
		}
		*r = merged
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// extensionKey packs up to 12 digits and their count (so "0100" and
// "100" differ) into one word.
func extensionKey(ext string) uint64 { return uint64(len(ext))<<56 | digitsKey(ext) }

func digitsKey(s string) uint64 {
	var k uint64
	for i := 0; i < len(s) && i < 17; i++ {
		k = k*10 + uint64(s[i]-'0')
	}
	return k
}

// checkCallerID normalizes the caller_id cell's number to E.164 (or takes
// the DID with dids-as-caller-id) and refuses emergency and other short
// numbers. Whether the number is the tenant's is checked against stored
// data (checkTenantData).
func (v *validator) checkCallerID(p *pending) {
	r := &p.row
	if r.CallerID == "" {
		if v.in.Settings.Upload.DIDsAsCallerID && r.DID != "" {
			p.callerID = r.DID
		}
		return
	}
	name, num := pbx.ParseCallerID(r.CallerID)
	if num == "" {
		return // a name only; Build reports it
	}
	if pbx.IsEmergencyNumber(num) {
		p.fail(csvin.CallerID, pbx.CodeCallerIDNotAllowed, "caller ID %s is an emergency or short service number; use one of the tenant's numbers", pbx.Clip(num))
		return
	}
	n, err := v.phones.Normalize(num, v.in.Settings.DefaultRegion, "caller_id")
	if err != nil {
		p.failErr(csvin.CallerID, err)
		return
	}
	p.callerID = n
	if name != "" {
		r.CallerID = name + " <" + n + ">"
	} else {
		r.CallerID = n
	}
}
