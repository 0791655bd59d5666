// Package report writes the files people read: CSV reports that are safe to
// open in a spreadsheet, and the job summary.
package report

import (
	"encoding/csv"
	"io"
	"strings"
)

// SafeCell neutralizes a cell a spreadsheet would run as a formula (OWASP
// "CSV injection"): a leading =, +, -, @, tab or CR gets a leading quote.
func SafeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
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
