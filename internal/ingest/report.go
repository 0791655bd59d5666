package ingest

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// WriteJSON writes the report for machines (validation.json).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write validation report: %w", err)
	}
	return nil
}

// WriteCSV writes the report for people (validation.csv): one line per
// issue, errors first, then warnings. Every cell is formula-escaped, since
// it is opened in a spreadsheet and holds text from the upload.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"line", "severity", "column", "code", "message"})
	for _, list := range []struct {
		severity string
		issues   []Issue
	}{{"error", r.Errors}, {"warning", r.Warnings}} {
		for _, is := range list.issues {
			_ = cw.Write([]string{strconv.Itoa(is.Line), list.severity, SafeCell(is.Column), is.Code, SafeCell(is.Message)})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write validation report: %w", err)
	}
	return nil
}

// SafeCell defuses spreadsheet formula injection: a cell starting with
// = + - @ tab or CR gets a leading apostrophe, which spreadsheets show as
// text and do not evaluate.
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
