// Package csvin reads a tenant's users CSV as people really export it: it
// detects the encoding (UTF-8 with or without BOM, UTF-16 with BOM,
// Windows-1252), sniffs the delimiter (',' ';' or tab), splits quoted
// fields with embedded newlines, skips blank lines and maps the header's
// columns to canonical ones. It streams: memory stays flat whatever the
// file's size, and every bound (bytes, rows, field size, fields per line)
// is checked while reading, so hostile input fails early with a
// file-level *pbx.Error.
//
// Records carry the PHYSICAL line number of their first byte, which is
// what a person sees in an editor.
package csvin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Default bounds, used where Limits leaves a field zero.
const (
	DefaultMaxBytes      = 50 << 20
	DefaultMaxRows       = 100_000
	DefaultMaxFieldBytes = 64 << 10
	DefaultMaxFields     = 1000
)

// Limits bound what a Reader accepts. Zero fields take the defaults.
type Limits struct {
	MaxBytes      int64 // raw bytes of the file, counted while reading
	MaxRows       int   // data rows (blank lines and the header not counted)
	MaxFieldBytes int   // bytes of a single field
	MaxFields     int   // fields on one row
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.MaxFieldBytes <= 0 {
		l.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if l.MaxFields <= 0 {
		l.MaxFields = DefaultMaxFields
	}
	return l
}

// Encoding names as Reader.Encoding reports them.
const (
	EncodingUTF8        = "utf-8"
	EncodingUTF8BOM     = "utf-8-bom"
	EncodingUTF16LE     = "utf-16le"
	EncodingUTF16BE     = "utf-16be"
	EncodingWindows1252 = "windows-1252"
)

// Header describes the file's header row.
type Header struct {
	Line      int
	Names     []string         // the cells as found
	Present   [NumColumns]bool // which canonical columns the file has
	Unknown   []string         // non-empty names matching no column, in order
	Delimiter byte
}

// Record is one data row. Fields holds each canonical column's raw cell
// ("" when the file has no such column or the cell is empty).
type Record struct {
	Line   int // physical line of the row's first byte
	Fields [NumColumns]string
	// Extra counts non-empty cells beyond the header's last column.
	Extra int
	// Raw holds every cell of the row, in file order, when the header hook
	// took the header over (see OnHeader); nil otherwise.
	Raw []string
}

// HeaderHook sees the header's cells before the alias table does. When it
// returns raw true, the hook owns the mapping: the reader skips the alias
// table and its extension check, and hands each row's cells in Record.Raw.
// An error ends the read as a file-level error.
type HeaderHook func(names []string) (raw bool, err error)

// Reader reads records from a CSV upload. Use NewReader, then Header (or
// Read directly, which reads the header first).
type Reader struct {
	lim     Limits
	counter *countingReader
	src     io.Reader

	buf      []byte
	pos, end int
	nl       int   // index in buf of the next '\n' at or after pos, or end when none is buffered
	srcErr   error // the source's error once it is drained; io.EOF at the end

	line    int // physical line of the next byte
	errLine int
	err     error // sticky

	encoding string
	mode     textMode

	hook   HeaderHook
	raw    bool
	rawBuf []string

	started  bool
	headerOK bool
	header   Header
	colOf    []int // header cell index → canonical column, -1 when ignored
	rows     int

	rec  []byte // the current record's field bytes, concatenated
	ends []int  // end offset in rec of each field
	dec  []byte // decoded copy of rec when it needed decoding
	dend []int
	out  []byte // rec or dec: the record as UTF-8
	oend []int
	cur  Record
}

type textMode int

const (
	modeAuto    textMode = iota // ASCII so far: UTF-8 and Windows-1252 agree
	modeUTF8                    // valid multi-byte UTF-8 seen or declared by a BOM
	modeCP1252                  // invalid UTF-8 seen before any multi-byte UTF-8
	modeDecoded                 // UTF-16 decoded to UTF-8 upstream
)

// NewReader returns a Reader of r within lim.
func NewReader(r io.Reader, lim Limits) *Reader {
	lim = lim.withDefaults()
	c := &countingReader{r: r, max: lim.MaxBytes}
	return &Reader{lim: lim, counter: c, src: c, buf: make([]byte, 0, 64<<10), line: 1, nl: -1}
}

// OnHeader installs a hook that sees the header first; call it before
// Header or Read.
func (r *Reader) OnHeader(h HeaderHook) { r.hook = h }

// Encoding reports the detected encoding (meaningful after Header).
func (r *Reader) Encoding() string {
	switch {
	case r.encoding != "":
		return r.encoding
	case r.mode == modeCP1252:
		return EncodingWindows1252
	}
	return EncodingUTF8
}

// BytesRead is the number of raw bytes read from the source so far.
func (r *Reader) BytesRead() int64 { return r.counter.n }

// Line is the physical line of the last error, or the line the reader
// has reached.
func (r *Reader) Line() int {
	if r.err != nil {
		return r.errLine
	}
	return r.line
}

// Rows is the number of data rows read so far.
func (r *Reader) Rows() int { return r.rows }

// Header reads the file's header row, if not done yet, and returns it.
// A file without one, or without an extension column, is an error.
func (r *Reader) Header() (*Header, error) {
	if !r.started {
		r.started = true
		line, err := r.start()
		if err != nil {
			return nil, r.fail(err, line)
		}
		r.headerOK = true
	}
	if !r.headerOK {
		return nil, r.err
	}
	return &r.header, nil
}

// Read returns the next non-blank data row, or io.EOF after the last.
// The Record is reused by the next call. Errors are *pbx.Error for
// problems with the file and wrapped source errors otherwise.
func (r *Reader) Read() (*Record, error) {
	if _, err := r.Header(); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	for {
		line, err := r.readRecord()
		if err != nil {
			if err == io.EOF {
				r.err, r.errLine = io.EOF, r.line
				return nil, io.EOF
			}
			return nil, r.fail(err, r.errLine)
		}
		if r.blank() {
			continue
		}
		r.rows++
		if r.rows > r.lim.MaxRows {
			return nil, r.fail(pbx.Errorf(pbx.CodeTooManyRows, "", "the file has more than %d rows; split it into smaller files", r.lim.MaxRows), line)
		}
		if err := r.fillRecord(line); err != nil {
			return nil, r.fail(err, line)
		}
		return &r.cur, nil
	}
}

func (r *Reader) fail(err error, line int) error {
	if r.err == nil {
		r.err, r.errLine = err, line
	}
	return r.err
}

// start detects the encoding, sniffs the delimiter and reads the header.
// On error it returns the line at fault.
func (r *Reader) start() (int, error) {
	if err := r.fillTo(4); err != nil {
		return 0, err
	}
	head := r.buf[r.pos:r.end]
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		r.pos += 3
		r.encoding, r.mode = EncodingUTF8BOM, modeUTF8
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		order, name := unicode.LittleEndian, EncodingUTF16LE
		if head[0] == 0xFE {
			order, name = unicode.BigEndian, EncodingUTF16BE
		}
		rest := bytes.Clone(head[2:])
		dec := unicode.UTF16(order, unicode.IgnoreBOM).NewDecoder()
		r.src = transform.NewReader(io.MultiReader(bytes.NewReader(rest), r.counter), dec)
		r.pos, r.end, r.nl, r.srcErr = 0, 0, -1, nil
		r.buf = r.buf[:0]
		r.encoding, r.mode = name, modeDecoded
	}
	delim, err := r.sniffDelimiter()
	if err != nil {
		return 0, err
	}
	r.header.Delimiter = delim
	for {
		line, err := r.readRecord()
		if err == io.EOF {
			return 0, pbx.Errorf(pbx.CodeNoHeader, "", "the file has no header row; the first row must name the columns, e.g. %s", strings.Join(CanonicalHeader(), ","))
		}
		if err != nil {
			return r.errLine, err
		}
		if r.blank() {
			continue
		}
		return line, r.readHeader(line)
	}
}

func (r *Reader) readHeader(line int) error {
	if err := r.decodeRecord(); err != nil {
		return err
	}
	names := r.fields()
	h := &r.header
	h.Line = line
	h.Names = names
	if r.hook != nil {
		raw, err := r.hook(names)
		if err != nil {
			return err
		}
		if raw {
			r.raw = true
			return nil
		}
	}
	r.colOf = make([]int, len(names))
	firstCell := [NumColumns]int{}
	var found []string
	for i, name := range names {
		r.colOf[i] = -1
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found = append(found, name)
		c, ok := ColumnFor(name)
		if !ok {
			h.Unknown = append(h.Unknown, name)
			continue
		}
		if h.Present[c] {
			return pbx.Errorf(pbx.CodeDuplicateColumn, c.String(), "columns %q and %q both mean %s; keep one", names[firstCell[c]], name, c)
		}
		h.Present[c], firstCell[c] = true, i
		r.colOf[i] = int(c)
	}
	if !h.Present[Extension] {
		return pbx.Errorf(pbx.CodeMissingColumn, Extension.String(), "the header has no extension column; found columns: %s", truncateList(found, 300))
	}
	return nil
}

func truncateList(names []string, max int) string {
	s := strings.Join(names, ", ")
	if s == "" {
		return "(none)"
	}
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// sniffDelimiter picks the delimiter that occurs most often, outside
// quotes, on the first line with content; ',' wins ties and empty files.
func (r *Reader) sniffDelimiter() (byte, error) {
	for {
		window := r.buf[r.pos:r.end]
		var counts, blankCounts [3]int // ',', ';', '\t'
		inQuotes, content := false, false
		complete := false
		for _, c := range window {
			switch {
			case c == '"':
				inQuotes = !inQuotes
				content = true
			case inQuotes:
			case c == ',':
				counts[0]++
			case c == ';':
				counts[1]++
			case c == '\t':
				counts[2]++
			case c == '\n':
				if content {
					complete = true
					break
				}
				for i := range counts { // a line of delimiters only (";;;;"): a hint, no more
					blankCounts[i] += counts[i]
				}
				counts = [3]int{}
			case c != ' ' && c != '\r':
				content = true
			}
			if complete {
				break
			}
		}
		full := r.end-r.pos >= cap(r.buf)
		if complete || full || r.srcErr != nil {
			if !complete && !content {
				counts = blankCounts
			}
			best, delim := 0, byte(',')
			for i, d := range []byte{',', ';', '\t'} {
				if counts[i] > best {
					best, delim = counts[i], d
				}
			}
			return delim, nil
		}
		if err := r.fillTo(r.end - r.pos + 1); err != nil {
			return 0, err
		}
	}
}

// fillTo reads until at least n bytes are buffered, the buffer is full or
// the source is drained. Only source errors other than io.EOF are returned.
func (r *Reader) fillTo(n int) error {
	if r.pos > 0 {
		copy(r.buf[:cap(r.buf)], r.buf[r.pos:r.end])
		r.end -= r.pos
		r.pos = 0
	}
	r.nl = -1
	r.buf = r.buf[:cap(r.buf)]
	for r.end < n && r.end < len(r.buf) && r.srcErr == nil {
		m, err := r.src.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			r.srcErr = err
		}
	}
	if r.srcErr != nil && r.srcErr != io.EOF && r.end == 0 {
		return r.sourceError()
	}
	return nil
}

func (r *Reader) sourceError() error {
	var e *pbx.Error
	if errors.As(r.srcErr, &e) {
		return e
	}
	if errors.Is(r.srcErr, transform.ErrShortSrc) {
		return pbx.Errorf(pbx.CodeEncoding, "", "the file ends in the middle of a UTF-16 character")
	}
	return fmt.Errorf("read upload: %w", r.srcErr)
}

// more reports whether a byte is available at r.pos, reading if needed.
// A source failure is reported once the buffer is drained, via srcErr.
func (r *Reader) more() bool {
	if r.pos < r.end {
		return true
	}
	if r.srcErr != nil {
		return false
	}
	r.pos, r.end, r.nl = 0, 0, -1
	r.buf = r.buf[:cap(r.buf)]
	for r.end == 0 && r.srcErr == nil {
		m, err := r.src.Read(r.buf)
		r.end = m
		if err != nil {
			r.srcErr = err
		}
	}
	return r.end > 0
}

// atEnd returns the error that ends the input: nil for a clean end of
// file, else the source's failure.
func (r *Reader) atEnd() error {
	if r.srcErr == nil || r.srcErr == io.EOF {
		return nil
	}
	return r.sourceError()
}

// readRecord reads one physical record (possibly spanning lines) into
// rec/ends and returns the line it starts on; io.EOF when none is left.
// It is the reader's hot loop (fuzzed, benchmarked): the unquoted field's
// scan stays inline, as most fields are unquoted; a quoted field, the rare
// case, is read by readQuoted.
func (r *Reader) readRecord() (int, error) {
	r.rec, r.ends = r.rec[:0], r.ends[:0]
	if !r.more() {
		if err := r.atEnd(); err != nil {
			r.errLine = r.line
			return 0, err
		}
		return 0, io.EOF
	}
	start := r.line
	delim := r.header.Delimiter
	maxField := r.lim.MaxFieldBytes
	for {
		fieldStart := len(r.rec)
		if r.more() && r.buf[r.pos] == '"' {
			if err := r.readQuoted(fieldStart); err != nil {
				return 0, err
			}
		}
		// The unquoted field, or what follows a closing quote (kept as
		// written rather than dropped: never silently lose a character).
		plainStart := len(r.rec)
		for {
			if !r.more() {
				if err := r.atEnd(); err != nil {
					r.errLine = r.line
					return 0, err
				}
				r.endField(plainStart)
				return start, nil
			}
			if r.nl < r.pos || r.nl > r.end {
				r.nl = r.end
				if j := bytes.IndexByte(r.buf[r.pos:r.end], '\n'); j >= 0 {
					r.nl = r.pos + j
				}
			}
			w := r.buf[r.pos:r.end]
			i := bytes.IndexByte(r.buf[r.pos:r.nl], delim)
			if i < 0 && r.nl < r.end {
				i = r.nl - r.pos
			}
			if i < 0 {
				r.rec = append(r.rec, w...)
				r.pos = r.end
				if len(r.rec)-fieldStart > maxField {
					r.errLine = r.line
					return 0, r.fieldTooLong()
				}
				continue
			}
			r.rec = append(r.rec, w[:i]...)
			r.pos += i + 1
			if len(r.rec)-fieldStart > maxField {
				r.errLine = r.line
				return 0, r.fieldTooLong()
			}
			if w[i] == '\n' {
				r.line++
				r.endField(plainStart)
				return start, nil
			}
			r.endField(plainStart)
			if len(r.ends) >= r.lim.MaxFields {
				r.errLine = r.line
				return 0, pbx.Errorf(pbx.CodeFileUnreadable, "", "the row has more than %d fields", r.lim.MaxFields)
			}
			break
		}
	}
}

// readQuoted reads a quoted field, from its opening quote (at r.pos) to
// its closing one, into rec: "" is a quote, newlines are the field's own.
// fieldStart is where the field begins in rec (for the field length limit).
func (r *Reader) readQuoted(fieldStart int) error {
	r.pos++
	quoteLine := r.line
	for {
		if !r.more() {
			if err := r.atEnd(); err != nil {
				r.errLine = r.line
				return err
			}
			r.errLine = quoteLine
			return pbx.Errorf(pbx.CodeFileUnreadable, "", "a quoted field starting on line %d is never closed", quoteLine)
		}
		w := r.buf[r.pos:r.end]
		i := bytes.IndexByte(w, '"')
		if i < 0 {
			i = len(w)
		}
		r.line += bytes.Count(w[:i], newline)
		r.rec = append(r.rec, w[:i]...)
		if len(r.rec)-fieldStart > r.lim.MaxFieldBytes {
			r.errLine = quoteLine
			return r.fieldTooLong()
		}
		if i == len(w) {
			r.pos = r.end
			continue
		}
		r.pos += i + 1
		if r.more() && r.buf[r.pos] == '"' { // "" is a quote
			r.rec = append(r.rec, '"')
			r.pos++
			continue
		}
		return nil
	}
}

var newline = []byte{'\n'}

func (r *Reader) fieldTooLong() error {
	return pbx.Errorf(pbx.CodeFieldTooLong, "", "a field is longer than %d bytes", r.lim.MaxFieldBytes)
}

// endField closes the current field, dropping the CR of a CRLF line end
// when it is outside quotes.
func (r *Reader) endField(plainStart int) {
	if n := len(r.rec); n > plainStart && r.rec[n-1] == '\r' {
		r.rec = r.rec[:n-1]
	}
	r.ends = append(r.ends, len(r.rec))
}

// blank reports whether the current record has no content: an empty line,
// spaces, or only delimiters (";;;;;;" from spreadsheets).
func (r *Reader) blank() bool {
	for _, c := range r.rec {
		if c != ' ' && c != '\t' && c != '\r' && c != r.header.Delimiter {
			return false
		}
	}
	return true
}

// decodeRecord turns the record's bytes into UTF-8 in out/oend, following
// the detected encoding. Pure ASCII, the common case, is not copied.
func (r *Reader) decodeRecord() error {
	ascii := true
	for _, c := range r.rec {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii || r.mode == modeDecoded || (r.mode == modeUTF8 && r.validUTF8Fields()) {
		r.out, r.oend = r.rec, r.ends
		return nil
	}
	r.dec, r.dend = r.dec[:0], r.dend[:0]
	start := 0
	for _, end := range r.ends {
		f := r.rec[start:end]
		start = end
		if r.mode != modeCP1252 && !isASCII(f) {
			if utf8.Valid(f) {
				r.mode = modeUTF8
			} else if r.mode == modeAuto {
				r.mode = modeCP1252
			} else {
				return pbx.Errorf(pbx.CodeEncoding, "", "this line is not valid UTF-8 although earlier lines are; save the file as UTF-8 (CSV UTF-8 in Excel) and upload it again")
			}
		}
		if r.mode == modeCP1252 {
			r.dec = appendWindows1252(r.dec, f)
		} else {
			r.dec = append(r.dec, f...)
		}
		r.dend = append(r.dend, len(r.dec))
	}
	r.out, r.oend = r.dec, r.dend
	return nil
}

// validUTF8Fields reports whether every field is valid UTF-8: the whole
// record is, and no field starts inside another's character.
func (r *Reader) validUTF8Fields() bool {
	if !utf8.Valid(r.rec) {
		return false
	}
	for _, end := range r.ends {
		if end < len(r.rec) && !utf8.RuneStart(r.rec[end]) {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// fields returns the decoded record's fields as strings sharing one
// allocation, as encoding/csv does.
func (r *Reader) fields() []string {
	s := string(r.out)
	f := make([]string, len(r.oend))
	start := 0
	for i, end := range r.oend {
		f[i] = s[start:end]
		start = end
	}
	return f
}

// fillRecord maps the decoded record onto the canonical columns.
func (r *Reader) fillRecord(line int) error {
	if err := r.decodeRecord(); err != nil {
		return err
	}
	r.cur = Record{Line: line}
	s := string(r.out)
	start := 0
	if r.raw {
		r.rawBuf = r.rawBuf[:0]
		for _, end := range r.oend {
			r.rawBuf = append(r.rawBuf, s[start:end])
			start = end
		}
		r.cur.Raw = r.rawBuf
		return nil
	}
	for i, end := range r.oend {
		if i < len(r.colOf) {
			if c := r.colOf[i]; c >= 0 {
				r.cur.Fields[c] = s[start:end]
			}
		} else if strings.TrimSpace(s[start:end]) != "" {
			r.cur.Extra++
		}
		start = end
	}
	return nil
}

// appendWindows1252 decodes Windows-1252 text. Every byte maps to a rune,
// so decoding cannot fail or lose information.
func appendWindows1252(dst, src []byte) []byte {
	for _, c := range src {
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			continue
		}
		r := charmap.Windows1252.DecodeByte(c)
		if r == utf8.RuneError { // 0x81, 0x8D, 0x8F, 0x90, 0x9D: keep as C1 controls, which validation names
			r = rune(c)
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst
}

// countingReader counts the raw bytes read and fails once there are more
// than max, whether or not the size was known up front.
type countingReader struct {
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.max {
		return 0, c.tooLarge()
	}
	if room := c.max + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	m, err := c.r.Read(p)
	c.n += int64(m)
	if c.n > c.max {
		return 0, c.tooLarge()
	}
	return m, err
}

func (c *countingReader) tooLarge() error {
	return pbx.Errorf(pbx.CodeFileTooLarge, "", "the file is larger than %d bytes; split it into smaller files", c.max)
}
