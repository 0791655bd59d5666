package csvin

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// FuzzReader checks the reader's contract on arbitrary bytes: it never
// panics, every error is a *pbx.Error (the input is in memory, so no
// source can fail), record lines strictly increase and lie within the
// file, and no row comes back that exceeds the limits.
func FuzzReader(f *testing.F) {
	for _, seed := range []string{
		"extension,first_name\n1,a\n",
		"\xef\xbb\xbfExt;Given Name\r\n1;\"x;y\"\r\n;;;\r\n",
		"\xff\xfee\x00x\x00t\x00\n\x001\x00",
		"\xfe\xff\x00e\x00x\x00t\x00\n\x001",
		"extension\n\"unterminated\n",
		"extension,first_name\n1,Ren\xe9e\n",
		"extension\n1\n\"a\"\"b\"c\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := NewReader(bytes.NewReader(data), Limits{MaxRows: 50, MaxFieldBytes: 256, MaxFields: 20, MaxBytes: 4096})
		lines := bytes.Count(data, []byte{'\n'}) + 1
		if len(data) >= 2 && (data[0] == 0xFF || data[0] == 0xFE) {
			lines = len(data) // UTF-16: newlines are two bytes; bound loosely
		}
		last := 0
		for {
			rec, err := rd.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *pbx.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not a *pbx.Error", err, err)
				}
				if l := rd.Line(); l < 0 || l > lines {
					t.Fatalf("error line %d outside 0..%d", l, lines)
				}
				return
			}
			if rec.Line <= last || rec.Line > lines {
				t.Fatalf("record line %d after %d (file has %d lines)", rec.Line, last, lines)
			}
			last = rec.Line
			for _, f := range rec.Fields {
				if len(f) > 256*3 { // Windows-1252 bytes may grow to 3 UTF-8 bytes
					t.Fatalf("field of %d bytes passed a 256-byte limit", len(f))
				}
			}
			if rd.Rows() > 50 {
				t.Fatalf("%d rows passed a limit of 50", rd.Rows())
			}
		}
	})
}
