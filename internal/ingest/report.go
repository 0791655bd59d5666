package ingest

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/bulkprov/bulkprov/internal/report"
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
			_ = cw.Write([]string{strconv.Itoa(is.Line), list.severity, report.SafeCell(is.Column), is.Code, report.SafeCell(is.Message)})
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write validation report: %w", err)
	}
	return nil
}
