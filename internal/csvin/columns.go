package csvin

import (
	"encoding/csv"
	"fmt"
	"io"
	"strings"
)

// Column is one of the upload's canonical columns.
type Column int

// The canonical columns, in the order of the template's header.
const (
	Extension Column = iota
	FirstName
	LastName
	Email
	Mobile
	DID
	MAC
	CallerID
	PhoneModel
	Department
	NumColumns // the number of canonical columns, not a column
)

// String returns the column's canonical name as reports and the template use it.
func (c Column) String() string {
	switch c {
	case Extension:
		return "extension"
	case FirstName:
		return "first_name"
	case LastName:
		return "last_name"
	case Email:
		return "email"
	case Mobile:
		return "mobile"
	case DID:
		return "did"
	case MAC:
		return "mac"
	case CallerID:
		return "caller_id"
	case PhoneModel:
		return "phone_model"
	case Department:
		return "department"
	}
	return "column?"
}

// CanonicalHeader is the header `bulkprov template` prints.
func CanonicalHeader() []string {
	h := make([]string, NumColumns)
	for c := range NumColumns {
		h[c] = c.String()
	}
	return h
}

// ColumnFor maps a header cell to its canonical column, ignoring case,
// spaces, '_' and '-', and knowing the names HR systems and Excel
// templates use ("E-Mail", "Given Name", "Direct Dial", ...).
func ColumnFor(name string) (Column, bool) {
	switch normalizeHeader(name) {
	case "extension", "ext", "exten", "extensionnumber":
		return Extension, true
	case "firstname", "givenname":
		return FirstName, true
	case "lastname", "surname", "familyname":
		return LastName, true
	case "email", "emailaddress", "mail":
		return Email, true
	case "mobile", "pager", "cell", "mobilephone", "mobilenumber":
		return Mobile, true
	case "did", "didnumber", "directdial", "phonenumber":
		return DID, true
	case "mac", "macaddress", "devicemac":
		return MAC, true
	case "callerid":
		return CallerID, true
	case "phonemodel":
		return PhoneModel, true
	case "department":
		return Department, true
	}
	return 0, false
}

func normalizeHeader(name string) string {
	name = strings.TrimPrefix(strings.TrimSpace(name), "\uFEFF")
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range strings.ToLower(name) {
		switch r {
		case ' ', '_', '-', '\t', '\u00a0':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WriteTemplate writes the canonical header and two example rows: the
// starting point `bulkprov template` and the portal hand to tenant admins.
func WriteTemplate(w io.Writer) error {
	cw := csv.NewWriter(w)
	rows := [][]string{
		CanonicalHeader(),
		// A caller ID is one of the tenant's numbers (issue #17): here Ann's own DID, with a name.
		{"100", "Ann", "Lee", "ann.lee@example.com", "+1 415 555 0100", "+14155550100", "00:15:65:a1:b2:c3", "Acme Sales <+14155550100>", "yealink-t54w", "Sales"},
		{"101", "Bruno", "Diaz", "bruno.diaz@example.com", "", "", "", "", "", "Support"},
	}
	if err := cw.WriteAll(rows); err != nil {
		return fmt.Errorf("write template: %w", err)
	}
	return nil
}
