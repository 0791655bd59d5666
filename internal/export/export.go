// Package export writes a tenant's users back out in bulkprov's own
// template (CSV, re-importable unchanged) or as JSON, for `bulkprov export`
// and the portal's users download. Users come from store.ListUsers.
//
// The CSV round-trips: importing it (on-existing=update) and exporting
// again gives the same bytes. Cells a spreadsheet would run as a formula
// (=, @, tab, CR, and + or - outside phone numbers) get a leading
// apostrophe, which ingest strips again on import.
package export

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/store"
)

// User is one user as the JSON export writes it: every key, always, in
// this order.
type User struct {
	Extension  string `json:"extension"`
	FirstName  string `json:"first_name"`
	LastName   string `json:"last_name"`
	Email      string `json:"email"`
	Mobile     string `json:"mobile"`
	DID        string `json:"did"`
	MAC        string `json:"mac"`
	PhoneModel string `json:"phone_model"`
	CallerID   string `json:"caller_id"`
	Department string `json:"department"`
}

// FromRecord is u in export terms.
func FromRecord(u store.UserRecord) User {
	return User{
		Extension: u.Extension, FirstName: u.FirstName, LastName: u.LastName, Email: u.Email,
		Mobile: u.Mobile, DID: u.DID, MAC: u.MAC, PhoneModel: u.PhoneModel, CallerID: u.CallerID,
		Department: u.Department,
	}
}

// cells is u in the template's column order (csvin.CanonicalHeader).
func (u User) cells() []string {
	row := make([]string, csvin.NumColumns)
	row[csvin.Extension] = u.Extension
	row[csvin.FirstName] = u.FirstName
	row[csvin.LastName] = u.LastName
	row[csvin.Email] = u.Email
	row[csvin.Mobile] = u.Mobile
	row[csvin.DID] = u.DID
	row[csvin.MAC] = u.MAC
	row[csvin.CallerID] = u.CallerID
	row[csvin.PhoneModel] = u.PhoneModel
	row[csvin.Department] = u.Department
	for c, v := range row {
		row[c] = EscapeFormula(csvin.Column(c), v)
	}
	return row
}

// EscapeFormula prefixes an apostrophe to a cell a spreadsheet would run as
// a formula. Phone numbers (mobile, did, caller_id: "+14155550100",
// "Ann <+14155550100>") are left alone: a leading + is their E.164 form.
func EscapeFormula(c csvin.Column, v string) string {
	if v == "" {
		return v
	}
	switch v[0] {
	case '=', '@', '\t', '\r':
	case '+', '-':
		if c == csvin.Mobile || c == csvin.DID || c == csvin.CallerID {
			if isPhone(v[1:]) {
				return v
			}
		}
	default:
		return v
	}
	return "'" + v
}

func isPhone(s string) bool {
	for _, r := range s {
		if (r < '0' || r > '9') && !strings.ContainsRune(" ()-.", r) {
			return false
		}
	}
	return s != ""
}

// WriteCSV writes users in the template's columns: a header, then one row
// per user, CRLF-free ("\n"), in the order given (ListUsers: by extension).
func WriteCSV(w io.Writer, users []store.UserRecord) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvin.CanonicalHeader()); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	for _, u := range users {
		if err := cw.Write(FromRecord(u).cells()); err != nil {
			return fmt.Errorf("export csv: user %s: %w", u.Extension, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export csv: %w", err)
	}
	return nil
}

// WriteJSON writes users as a JSON array of User objects ([] for none),
// indented, with a final newline.
func WriteJSON(w io.Writer, users []store.UserRecord) error {
	out := make([]User, len(users))
	for i, u := range users {
		out[i] = FromRecord(u)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("export json: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("export json: %w", err)
	}
	return nil
}
