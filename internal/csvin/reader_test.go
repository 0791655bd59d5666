package csvin

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// readAll reads every record as "line:ext|first|last|email|..." (all
// canonical columns) and returns them with the reader's first error.
func readAll(t testing.TB, rd *Reader) ([]string, error) {
	t.Helper()
	var out []string
	for {
		rec, err := rd.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("%d:%s", rec.Line, strings.Join(rec.Fields[:], "|")))
	}
}

// row formats a record as readAll does, from the leading columns.
func row(line int, fields ...string) string {
	var all [NumColumns]string
	copy(all[:], fields)
	return fmt.Sprintf("%d:%s", line, strings.Join(all[:], "|"))
}

func TestEncodingsAndDelimiters(t *testing.T) {
	want := []string{
		row(2, "100", "Renée", "Groß", "renee@acme.example"),
		row(3, "101", "Doe, Jr.", "Ünal", "j@acme.example"),
	}
	tests := []struct {
		file     string
		encoding string
		delim    byte
	}{
		{"utf8.csv", EncodingUTF8, ','},
		{"utf8-bom.csv", EncodingUTF8BOM, ','},
		{"utf16le-bom-tab.txt", EncodingUTF16LE, '\t'},
		{"utf16be-bom.csv", EncodingUTF16BE, ','},
		{"windows1252.csv", EncodingWindows1252, ';'},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			// One byte at a time too: buffer boundaries must not matter.
			for name, src := range map[string]io.Reader{"whole": bytes.NewReader(data), "bytewise": iotest.OneByteReader(bytes.NewReader(data))} {
				rd := NewReader(src, Limits{})
				got, err := readAll(t, rd)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("%s: records\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				h, _ := rd.Header()
				if rd.Encoding() != tt.encoding || h.Delimiter != tt.delim {
					t.Errorf("%s: encoding %s delimiter %q, want %s %q", name, rd.Encoding(), h.Delimiter, tt.encoding, tt.delim)
				}
			}
		})
	}
}

// TestReader reads small files through the alias table: column names,
// order, quoting, line ends and skipped rows. It is a table of cases and
// reads best whole.
func TestReader(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
		delim byte
	}{
		{
			name:  "aliases in any case, spacing and punctuation",
			input: "Ext;Given Name;SURNAME;E-Mail;Cell;Direct Dial;MAC Address;Caller_ID;phone-model;Department\n1;a;b;c;d;e;f;g;h;i\n",
			want:  []string{row(2, "1", "a", "b", "c", "d", "e", "f", "g", "h", "i")},
			delim: ';',
		},
		{
			name:  "more aliases",
			input: "extension number,firstname,family name,email address,pager,did number,device mac\n1,a,b,c,d,e,f\n",
			want:  []string{row(2, "1", "a", "b", "c", "d", "e", "f")},
			delim: ',',
		},
		{
			name:  "columns in any order, absent ones empty",
			input: "email,extension\nx@y.z,7\n",
			want:  []string{row(2, "7", "", "", "x@y.z")},
			delim: ',',
		},
		{
			name:  "embedded newlines make the next row's line jump",
			input: "extension,first_name,last_name\n1,\"two\nlines\",x\n2,\"three\r\nline\r\nname\",y\n3,z,w\n",
			want: []string{
				row(2, "1", "two\nlines", "x"),
				row(4, "2", "three\r\nline\r\nname", "y"),
				row(7, "3", "z", "w"),
			},
			delim: ',',
		},
		{
			name:  "blank lines, spaces and delimiter-only rows skipped",
			input: "\n\n;;;\nextension;first_name\n\n1;a\n;;;;;;\n   \n2;b\n\n",
			want:  []string{row(6, "1", "a"), row(9, "2", "b")},
			delim: ';',
		},
		{
			name:  "CRLF, trailing empty columns and extra cells",
			input: "extension,first_name,,\r\n1,a,,\r\n2,b,,note\r\n",
			want:  []string{row(2, "1", "a"), row(3, "2", "b")},
			delim: ',',
		},
		{
			name:  "escaped quotes and text after a closing quote kept",
			input: "extension,first_name\n1,\"say \"\"hi\"\"\"\n2,\"a\"b\n3,a\"b\n",
			want:  []string{row(2, "1", `say "hi"`), row(3, "2", "ab"), row(4, "3", `a"b`)},
			delim: ',',
		},
		{
			name:  "no final newline",
			input: "extension\r\n1\r\n2",
			want:  []string{row(2, "1"), row(3, "2")},
			delim: ',',
		},
		{
			name:  "quoted delimiter does not fool the sniffer",
			input: "\"a,b,c,d\";extension;first_name\nx;1;y\n",
			want:  []string{row(2, "1", "y")},
			delim: ';',
		},
		{
			name:  "tab separated",
			input: "extension\tfirst_name\n1\tAnn, B.\n",
			want:  []string{row(2, "1", "Ann, B.")},
			delim: '\t',
		},
		{
			name:  "header only",
			input: "extension,first_name\n",
			delim: ',',
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.input), Limits{})
			got, err := readAll(t, rd)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("records\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if h, _ := rd.Header(); h.Delimiter != tt.delim {
				t.Errorf("delimiter %q, want %q", h.Delimiter, tt.delim)
			}
		})
	}
}

func TestHeaderWarningsAndExtra(t *testing.T) {
	rd := NewReader(strings.NewReader("extension,Office,first_name,Badge ID\n1,HQ,Ann,7,overflow\n"), Limits{})
	h, err := rd.Header()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(h.Unknown, ",") != "Office,Badge ID" || h.Line != 1 || !h.Present[FirstName] || h.Present[Email] {
		t.Errorf("header = %+v", h)
	}
	rec, err := rd.Read()
	if err != nil || rec.Extra != 1 || rec.Fields[FirstName] != "Ann" {
		t.Errorf("record = %+v, %v", rec, err)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		lim   Limits
		code  string
		line  int
		msg   string // substring of the message
	}{
		{"empty file", "", Limits{}, pbx.CodeNoHeader, 0, "no header row"},
		{"only blank lines", "\n;;\n  \n", Limits{}, pbx.CodeNoHeader, 0, "no header row"},
		{"no extension column", "\nname,email\nAnn,a@b.c\n", Limits{}, pbx.CodeMissingColumn, 2, "found columns: name, email"},
		{"duplicate column", "extension,Email,E-Mail\n", Limits{}, pbx.CodeDuplicateColumn, 1, `"Email" and "E-Mail"`},
		{"too large", "extension\n" + strings.Repeat("100\n", 100), Limits{MaxBytes: 50}, pbx.CodeFileTooLarge, 0, "larger than 50 bytes"},
		{"too many rows", "extension\n1\n\n2\n3\n", Limits{MaxRows: 2}, pbx.CodeTooManyRows, 5, "more than 2 rows"},
		{"field too long", "extension\n1\n" + strings.Repeat("x", 70<<10) + "\n", Limits{}, pbx.CodeFieldTooLong, 3, "longer than 65536"},
		{"quoted field too long", "extension\n1\n\"" + strings.Repeat("x\n", 40<<10) + "\"\n", Limits{}, pbx.CodeFieldTooLong, 3, "longer than"},
		{"too many fields", "extension\n1" + strings.Repeat(",", 1000) + "\n", Limits{}, pbx.CodeFileUnreadable, 2, "more than 1000 fields"},
		{"unterminated quote", "extension,first_name\n1,a\n2,\"b\n\n3,c\n", Limits{}, pbx.CodeFileUnreadable, 3, "starting on line 3 is never closed"},
		{"utf-8 then invalid bytes", "extension,first_name\n1,Jürgen\n2,J\xfcrgen\n", Limits{}, pbx.CodeEncoding, 3, "not valid UTF-8"},
		{"utf-8 BOM then invalid bytes", "\xef\xbb\xbfextension,first_name\n2,J\xfcrgen\n", Limits{}, pbx.CodeEncoding, 2, "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(strings.NewReader(tt.input), tt.lim)
			_, err := readAll(t, rd)
			var e *pbx.Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Fatalf("error = %v, want code %s", err, tt.code)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.msg)
			}
			if tt.line != 0 && rd.Line() != tt.line {
				t.Errorf("error line = %d, want %d", rd.Line(), tt.line)
			}
			if _, again := rd.Read(); again != err {
				t.Errorf("error is not sticky: %v then %v", err, again)
			}
		})
	}
}

func TestWindows1252Detection(t *testing.T) {
	// ASCII first, Windows-1252 later: still read correctly, nothing lost.
	in := "extension,first_name,last_name\n1,Ann,Lee\n2,Ren\xe9e,Gro\xdf\n3,\x80uro,\x81x\n"
	got, err := readAll(t, NewReader(strings.NewReader(in), Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{row(2, "1", "Ann", "Lee"), row(3, "2", "Renée", "Groß"), row(4, "3", "€uro", "\u0081x")}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSourceErrorIsNotAFileError(t *testing.T) {
	broken := io.MultiReader(strings.NewReader("extension\n1\n2"), iotest.ErrReader(errors.New("connection reset")))
	_, err := readAll(t, NewReader(broken, Limits{}))
	var e *pbx.Error
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("error = %v, want the wrapped source error", err)
	}
}

func TestBytesCountedWithoutKnownSize(t *testing.T) {
	data := "extension\n" + strings.Repeat("1234\n", 1000)
	rd := NewReader(iotest.HalfReader(strings.NewReader(data)), Limits{MaxBytes: int64(len(data))})
	got, err := readAll(t, rd)
	if err != nil || len(got) != 1000 || rd.BytesRead() != int64(len(data)) {
		t.Fatalf("read %d records, %d bytes, %v", len(got), rd.BytesRead(), err)
	}
}

func TestCanonicalHeader(t *testing.T) {
	want := "extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department"
	if got := strings.Join(CanonicalHeader(), ","); got != want {
		t.Errorf("CanonicalHeader = %s", got)
	}
	for _, name := range CanonicalHeader() {
		if c, ok := ColumnFor(name); !ok || c.String() != name {
			t.Errorf("ColumnFor(%q) = %v, %v", name, c, ok)
		}
	}
}
