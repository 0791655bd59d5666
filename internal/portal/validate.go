package portal

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/peers"
)

// Bounds on the JSON grid, well above what a person edits in a browser.
const (
	maxGridColumns = 50
	maxCellBytes   = 1 << 10
)

// UploadOptions are the options the page sends; nil fields are not given
// and default to the tenant's settings.
type UploadOptions struct {
	OnExisting     *string `json:"on_existing,omitempty"`
	CreateDIDs     *bool   `json:"create_dids,omitempty"`
	DIDsAsCallerID *bool   `json:"dids_as_caller_id,omitempty"`
	Welcome        *string `json:"welcome,omitempty"`
	DryRun         *bool   `json:"dry_run,omitempty"`
}

// Metadata returns the options as S3 user metadata (the keys ingest reads).
func (o UploadOptions) Metadata() map[string]string {
	m := map[string]string{}
	if o.OnExisting != nil {
		m[pbx.MetaOnExisting] = *o.OnExisting
	}
	if o.CreateDIDs != nil {
		m[pbx.MetaCreateDIDs] = strconv.FormatBool(*o.CreateDIDs)
	}
	if o.DIDsAsCallerID != nil {
		m[pbx.MetaDIDsAsCallerID] = strconv.FormatBool(*o.DIDsAsCallerID)
	}
	if o.Welcome != nil {
		m[pbx.MetaWelcome] = *o.Welcome
	}
	if o.DryRun != nil {
		m[pbx.MetaDryRun] = strconv.FormatBool(*o.DryRun)
	}
	return m
}

// optionKeys are the metadata keys, also accepted as query parameters of
// POST /validate with a CSV body.
var optionKeys = [...]string{pbx.MetaOnExisting, pbx.MetaCreateDIDs, pbx.MetaDIDsAsCallerID, pbx.MetaWelcome, pbx.MetaDryRun, pbx.MetaImportSecrets}

// GridRequest is POST /validate's JSON body: the page's table. Columns
// default to the canonical header.
type GridRequest struct {
	Columns []string      `json:"columns"`
	Rows    [][]string    `json:"rows"`
	Options UploadOptions `json:"options"`
}

// CellIssue is an ingest issue placed on the page's grid: Row is the index
// of the grid row (-1 for the file or the header), Col the index of the
// column (-1 when no column is at fault or it is not in the grid).
type CellIssue struct {
	ingest.Issue
	Row int `json:"row"`
	Col int `json:"col"`
}

// GridRow is one data row of an uploaded CSV, by canonical column.
type GridRow struct {
	Line  int      `json:"line"`
	Cells []string `json:"cells"`
}

// Grid is an uploaded CSV as the page's table shows it.
type Grid struct {
	Columns []string  `json:"columns"`
	Rows    []GridRow `json:"rows"`
}

// ValidateResponse is POST /validate's answer: ingest's report, with each
// issue placed on the grid, and for a CSV body the grid itself.
type ValidateResponse struct {
	Rows      int         `json:"rows"`
	Valid     int         `json:"valid"`
	Invalid   int         `json:"invalid"`
	Skipped   int         `json:"skipped"`
	Encoding  string      `json:"encoding,omitempty"`
	Delimiter string      `json:"delimiter,omitempty"`
	FileError *CellIssue  `json:"file_error,omitempty"`
	Errors    []CellIssue `json:"errors"`
	Warnings  []CellIssue `json:"warnings"`
	Grid      *Grid       `json:"grid,omitempty"`
	// Source is the column report: the peer whose export the file is and
	// what each of its columns fed, or why it was ignored.
	Source *peers.Source `json:"source,omitempty"`
}

// validate runs ingest's validation, without side effects, on a CSV body
// (Content-Type text/csv, options as query parameters) or a JSON grid.
func (h *Handler) validate(ctx context.Context, r *request) (any, error) {
	switch mediaType(r.header["content-type"]) {
	case "text/csv", "text/plain", "application/csv", "application/vnd.ms-excel", "application/octet-stream":
		meta := map[string]string{}
		for _, k := range optionKeys {
			if v, ok := r.query[k]; ok {
				meta[k] = v
			}
		}
		if err := h.spend(ctx, r.tenant, h.cfg.ValidateBudget, csvRows(r.body)); err != nil {
			return nil, err
		}
		return h.validateCSV(ctx, r.tenant, r.body, meta)
	case "application/json":
		var g GridRequest
		if err := decodeJSON(r, &g); err != nil {
			return nil, err
		}
		if err := h.spend(ctx, r.tenant, h.cfg.ValidateBudget, int64(len(g.Rows))); err != nil {
			return nil, err
		}
		return h.validateGrid(ctx, r.tenant, g)
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "send the file as text/csv or the table as application/json")
	}
}

func (h *Handler) validateCSV(ctx context.Context, tenant string, body []byte, meta map[string]string) (*ValidateResponse, error) {
	rep, settings, err := h.runValidation(ctx, tenant, body, meta)
	if err != nil {
		return nil, err
	}
	grid := readGrid(body, settings)
	lineRow := make(map[int]int, len(grid.Rows))
	for i, row := range grid.Rows {
		lineRow[row.Line] = i
	}
	rowOf := func(line int) int {
		if i, ok := lineRow[line]; ok {
			return i
		}
		return -1
	}
	out := place(rep, grid.Columns, rowOf)
	out.Grid = grid
	out.Source = rep.Source
	return out, nil
}

func (h *Handler) validateGrid(ctx context.Context, tenant string, g GridRequest) (*ValidateResponse, error) {
	if g.Columns == nil {
		g.Columns = csvin.CanonicalHeader()
	}
	if len(g.Columns) == 0 || len(g.Columns) > maxGridColumns {
		return nil, &apiError{status: http.StatusBadRequest, code: pbx.EINVALID, field: "columns", message: "give 1-50 column names"}
	}
	// Serialize the grid as the CSV the page would save, remembering the
	// physical line each row starts on, to place ingest's issues.
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(g.Columns); err != nil {
		return nil, err
	}
	starts := make([]int, len(g.Rows))
	line := 2
	for i, row := range g.Rows {
		if len(row) > len(g.Columns) {
			return nil, &apiError{status: http.StatusBadRequest, code: pbx.EINVALID, field: "rows",
				message: "row " + strconv.Itoa(i+1) + " has more cells than there are columns"}
		}
		for _, c := range row {
			if len(c) > maxCellBytes {
				return nil, &apiError{status: http.StatusBadRequest, code: pbx.EINVALID, field: "rows",
					message: "row " + strconv.Itoa(i+1) + " has a cell longer than 1024 bytes"}
			}
		}
		starts[i] = line
		if err := w.Write(row); err != nil {
			return nil, err
		}
		line += 1 + newlines(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	rep, _, err := h.runValidation(ctx, tenant, buf.Bytes(), g.Options.Metadata())
	if err != nil {
		return nil, err
	}
	rowOf := func(l int) int {
		// The last row starting at or before line l.
		lo, hi := 0, len(starts)
		for lo < hi {
			mid := (lo + hi) / 2
			if starts[mid] <= l {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		return lo - 1
	}
	out := place(rep, g.Columns, rowOf)
	out.Source = rep.Source
	return out, nil
}

// newlines counts the line breaks csvin sees inside a record's fields.
func newlines(row []string) int {
	n := 0
	for _, c := range row {
		n += strings.Count(c, "\n")
	}
	return n
}

// runValidation loads the tenant's settings with the upload's options laid
// over them and runs ingest.Validate with no callbacks: nothing is written.
// Invalid options are the file's problem, reported like ingest would.
func (h *Handler) runValidation(ctx context.Context, tenant string, body []byte, meta map[string]string) (*ingest.Report, pbx.Settings, error) {
	override, err := pbx.ParseUploadOptions(meta)
	if err != nil {
		return ingest.FileFailure(tenant, err), pbx.Settings{}, nil
	}
	settings, err := h.deps.Settings.LoadSettings(ctx, tenant, override)
	if err != nil {
		if code := pbx.ErrorCode(err); code == pbx.ENOTFOUND {
			return nil, pbx.Settings{}, errorf(http.StatusForbidden, codeForbidden, "your tenant is not set up yet")
		}
		return nil, pbx.Settings{}, err
	}
	in := ingest.Input{Tenant: tenant, Settings: settings, KnownPhoneModel: h.cfg.KnownPhoneModel, Logger: h.log}
	if h.deps.Lookup != nil {
		in.Lookup = h.deps.Lookup
	}
	rep, err := ingest.Validate(ctx, bytes.NewReader(body), in)
	if err != nil {
		return nil, pbx.Settings{}, err
	}
	return rep, settings, nil
}

// readGrid reads the CSV's rows by canonical column for the page's table,
// with the reader ingest uses (another PBX's export is shown mapped; its
// entries that are not users to create are left out). A file-level
// problem (already in the report) ends the grid where it happened.
func readGrid(body []byte, s pbx.Settings) *Grid {
	g := &Grid{Columns: csvin.CanonicalHeader(), Rows: []GridRow{}}
	rd := peers.NewReader(bytes.NewReader(body), csvin.Limits{MaxBytes: s.MaxObjectBytes, MaxRows: s.MaxRows}, peers.Options{})
	for {
		row, err := rd.Read()
		if err != nil { // io.EOF, or the file-level error already reported
			return g
		}
		if row.Skip != nil {
			continue
		}
		g.Rows = append(g.Rows, GridRow{Line: row.Line, Cells: append([]string(nil), row.Fields[:]...)})
	}
}

// place puts each of the report's issues on the grid.
func place(rep *ingest.Report, columns []string, rowOf func(line int) int) *ValidateResponse {
	colIndex := map[csvin.Column]int{}
	for i, name := range columns {
		if c, ok := csvin.ColumnFor(name); ok {
			if _, dup := colIndex[c]; !dup {
				colIndex[c] = i
			}
		}
	}
	put := func(is ingest.Issue, file bool) CellIssue {
		ci := CellIssue{Issue: is, Row: -1, Col: -1}
		if file || is.Line <= 1 {
			return ci
		}
		ci.Row = rowOf(is.Line)
		if c, ok := csvin.ColumnFor(is.Column); ok {
			if i, ok := colIndex[c]; ok {
				ci.Col = i
			}
		}
		return ci
	}
	out := &ValidateResponse{
		Rows: rep.Rows, Valid: rep.Valid, Invalid: rep.Invalid, Skipped: rep.Skipped,
		Encoding: rep.Encoding, Delimiter: rep.Delimiter,
		Errors: make([]CellIssue, 0, len(rep.Errors)), Warnings: make([]CellIssue, 0, len(rep.Warnings)),
	}
	if rep.FileError != nil {
		fe := put(*rep.FileError, true)
		out.FileError = &fe
	}
	for _, is := range rep.Errors {
		file := rep.FileError != nil && is == *rep.FileError
		out.Errors = append(out.Errors, put(is, file))
	}
	for _, is := range rep.Warnings {
		out.Warnings = append(out.Warnings, put(is, false))
	}
	return out
}
