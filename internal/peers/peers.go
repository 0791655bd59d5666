// Package peers reads the user exports of other PBXs (FreePBX, 3CX, Wazo,
// Kazoo, FusionPBX, FS PBX, Issabel, Switchvox, Vodia, Yeastar) unchanged:
// it recognises a file by its header, maps each column with that peer's
// own rules (a table per peer, not more aliases in csvin's global one) and
// applies the peer's value conventions (full names, yes/no flags,
// multi-valued cells, vendor + model, non-SIP entries). A file no peer
// claims is read through csvin's aliases, as before.
//
// Every upload gets a column report (Source): each source column and the
// field it fed, or why it was ignored. Secrets in a peer's export (SIP
// secrets, voicemail PINs, portal passwords) never reach a report: their
// columns are ignored unless the upload imports SIP secrets and PINs, and
// then only Row.SIPSecret / Row.PIN carry them.
package peers

import (
	"fmt"
	"io"
	"strings"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Kind is what a file's rows are.
type Kind string

// The kinds of file.
const (
	KindUsers     Kind = "users"      // each row a user to create
	KindDIDRoutes Kind = "did_routes" // companion: each row routes a DID to an existing user's extension
	KindDevices   Kind = "devices"    // companion: each row binds a phone to an existing user's extension
)

// OwnFormat is Source.Peer for files read through csvin's aliases.
const OwnFormat = "bulkprov"

// Source describes how an upload was read: the peer whose export it is
// and what became of each column.
type Source struct {
	Peer    string       `json:"peer"`            // profile id, or "bulkprov" for our template and aliases
	Name    string       `json:"name"`            // e.g. "FreePBX Bulk Handler: extensions export"
	Mapping string       `json:"mapping_version"` // e.g. "freepbx-extensions/1"
	Kind    Kind         `json:"kind"`
	Columns []ColumnUse  `json:"columns"`
	profile *Profile     `json:"-"`
	plan    []columnPlan `json:"-"`
}

// Ignored is ColumnUse.Field for a column that fed nothing.
const Ignored = "ignored"

// ColumnUse is one source column in the column report.
type ColumnUse struct {
	Position int    `json:"position"` // 1-based
	Column   string `json:"column"`   // as in the file's header
	Field    string `json:"field"`    // the field it fed, or "ignored"
	Reason   string `json:"reason,omitempty"`
}

// Note is a row-level warning from a peer's conventions.
type Note struct {
	Column  string // our field name, or the source column
	Code    string
	Message string
}

// Row is one data row, mapped.
type Row struct {
	csvin.Record
	// SIPSecret and PIN are the row's own credentials, set only when the
	// upload imports secrets. Never log or report them.
	SIPSecret, PIN string
	// Skip, when set, is why the row is not a user to create (a non-SIP
	// entry, a delete row, a route to an IVR); it is reported and skipped.
	Skip *Note
	// Notes are warnings about the row (a value dropped, a disabled user).
	Notes []Note
}

// Options change how peer files are read.
type Options struct {
	// ImportSecrets maps SIP secret and voicemail PIN columns into
	// Row.SIPSecret / Row.PIN instead of ignoring them.
	ImportSecrets bool
}

// Reader reads an upload, detecting the peer from its header.
type Reader struct {
	rd   *csvin.Reader
	opts Options
	src  *Source
	row  Row
}

// NewReader returns a Reader of r within lim.
func NewReader(r io.Reader, lim csvin.Limits, opts Options) *Reader {
	pr := &Reader{rd: csvin.NewReader(r, lim), opts: opts}
	pr.rd.OnHeader(pr.onHeader)
	return pr
}

func (r *Reader) onHeader(names []string) (bool, error) {
	p, norm := Detect(names)
	if p == nil {
		return false, nil
	}
	src, err := p.plan(names, norm, r.opts)
	if err != nil {
		return false, err
	}
	r.src = src
	return true, nil
}

// Header reads the header and returns the column report. For a file in
// our own format the report follows csvin's alias table.
func (r *Reader) Header() (*Source, *csvin.Header, error) {
	h, err := r.rd.Header()
	if err != nil {
		return nil, nil, err
	}
	if r.src == nil {
		r.src = ownSource(h)
	}
	return r.src, h, nil
}

// Read returns the next row, mapped, or io.EOF. The Row is reused.
func (r *Reader) Read() (*Row, error) {
	if _, _, err := r.Header(); err != nil {
		return nil, err
	}
	rec, err := r.rd.Read()
	if err != nil {
		return nil, err
	}
	r.row = Row{Record: *rec}
	if r.src.profile != nil {
		r.src.mapRow(&r.row, r.opts)
		r.row.Raw = nil
	}
	return &r.row, nil
}

// Encoding, Line and Rows are the underlying csvin.Reader's.
func (r *Reader) Encoding() string { return r.rd.Encoding() }

// Line is the physical line of the last error, or the line reached.
func (r *Reader) Line() int { return r.rd.Line() }

// Rows is the number of data rows read so far.
func (r *Reader) Rows() int { return r.rd.Rows() }

// ownSource is the column report of a file read through csvin's aliases.
func ownSource(h *csvin.Header) *Source {
	s := &Source{Peer: OwnFormat, Name: "bulkprov template (and common header aliases)", Mapping: OwnFormat + "/1", Kind: KindUsers}
	seen := map[csvin.Column]bool{}
	for i, name := range h.Names {
		u := ColumnUse{Position: i + 1, Column: name, Field: Ignored}
		switch c, ok := csvin.ColumnFor(name); {
		case strings.TrimSpace(name) == "":
			u.Reason = "no column name"
		case !ok:
			u.Reason = "not a column bulkprov knows"
			if isSecretName(normalize(name)) {
				u.Reason = "looks like a secret or password: never imported from our template"
			}
		case seen[c]:
			u.Reason = "another column already feeds " + c.String()
		default:
			seen[c] = true
			u.Field, u.Reason = c.String(), ""
		}
		s.Columns = append(s.Columns, u)
	}
	return s
}

// normalize folds a header name for matching: lowercase, no spaces, '_',
// '-', '.', BOM or leading '#'.
func normalize(name string) string {
	name = strings.TrimPrefix(strings.TrimSpace(name), "\uFEFF")
	name = strings.TrimPrefix(name, "#")
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch r {
		case ' ', '_', '-', '.', '\t', '\u00a0':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isSecretName reports whether a (normalized) column name names a secret.
func isSecretName(n string) bool {
	for _, w := range []string{"secret", "password", "passwd", "pwd", "pin", "token"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Detect returns the profile whose signature the header matches, with the
// normalized names, or nil for a file in our own format (or unknown).
func Detect(names []string) (*Profile, []string) {
	norm := make([]string, len(names))
	set := make(map[string]bool, len(names))
	for i, n := range names {
		norm[i] = normalize(n)
		set[norm[i]] = true
	}
	hashHeader := len(names) > 0 && strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(names[0]), "\uFEFF"), "#")
	for _, p := range profiles() {
		if p.matches(set, hashHeader) {
			return p, norm
		}
	}
	return nil, norm
}

// missingError is the file-level error for a file that has a peer's
// signature but not the columns its mapping needs.
func missingError(p *Profile, missing []string) error {
	return pbx.Errorf(pbx.CodeMissingColumn, "", "this looks like a %s %s, but it has no %s column (needed: %s); export it again with %s",
		p.Peer, p.File, strings.Join(missing, ", "), p.requiredList(), plural(len(missing), "that column", "those columns"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (p *Profile) requiredList() string {
	var out []string
	for _, alts := range p.required {
		out = append(out, strings.Join(alts, " or "))
	}
	return strings.Join(out, ", ")
}

// String names the profile and its mapping version.
func (p *Profile) String() string {
	return fmt.Sprintf("%s %s (%s/%d)", p.Peer, p.File, p.ID, p.Version)
}
