// Package report writes the files people read: CSV reports that are safe to
// open in a spreadsheet, and the job summary.
package report

import (
	"encoding/csv"
	"io"
	"strings"
)

// SafeCell neutralizes every part of a cell a spreadsheet could run as a
// formula, following OWASP's "CSV Injection" guidance: a part starting with
// =, +, -, @, tab or CR gets a leading single quote. A part is the cell's
// start or anything after a field separator a spreadsheet may split on
// (`,` `;` tab, or a line break), skipping spaces and double quotes, so
// that "1;=2+3;x" opened with `;` as the list separator yields the text
// '=2+3, not a formula. Text without such a part is returned unchanged.
// https://owasp.org/www-community/attacks/CSV_Injection
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	var b strings.Builder
	start := 0 // bytes of s already copied to b
	partStart := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if partStart {
			switch c {
			case ' ', '"':
				continue // still looking for the part's first character
			case '=', '+', '-', '@', '\t', '\r':
				b.WriteString(s[start:i])
				b.WriteByte('\'')
				start = i
			}
			partStart = false
			if c == '\t' || c == '\r' {
				partStart = true // a leading tab or CR also separates
			}
			continue
		}
		switch c {
		case ',', ';', '\t', '\r', '\n':
			partStart = true
		}
	}
	if start == 0 && b.Len() == 0 {
		return s
	}
	b.WriteString(s[start:])
	return b.String()
}

// Writer writes formula-safe CSV records.
type Writer struct{ w *csv.Writer }

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: csv.NewWriter(w)} }

// Write writes one record, escaping every cell.
func (w *Writer) Write(cells ...string) error {
	safe := make([]string, len(cells))
	for i, c := range cells {
		safe[i] = SafeCell(strings.ReplaceAll(c, "\x00", ""))
	}
	return w.w.Write(safe)
}

// Flush flushes and returns any write error.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}
