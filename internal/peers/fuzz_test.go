package peers

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// FuzzPeerReader checks the peers reader on arbitrary bytes, seeded with
// every peer's sample: it never panics; every error is a *pbx.Error; the
// column report has one entry per header cell; secrets stay out of rows
// unless the upload imports them; a skipped row says why.
func FuzzPeerReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.csv")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add([]byte("#alias;first_name;last_name;mb_pin\n1;a;b;1234\n"), true)
	f.Add([]byte("Number,FirstName,LastName,EmailAddress,AuthPassword\n1,a,b,c,d\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, importSecrets bool) {
		rd := NewReader(bytes.NewReader(data), csvin.Limits{MaxRows: 50, MaxFieldBytes: 256, MaxFields: 40, MaxBytes: 8192}, Options{ImportSecrets: importSecrets})
		src, h, err := rd.Header()
		if err != nil {
			var e *pbx.Error
			if !errors.As(err, &e) {
				t.Fatalf("header error %v (%T) is not a *pbx.Error", err, err)
			}
			return
		}
		if len(src.Columns) != len(h.Names) {
			t.Fatalf("column report has %d entries for %d header cells", len(src.Columns), len(h.Names))
		}
		for {
			row, err := rd.Read()
			if err == io.EOF {
				return
			}
			if err != nil {
				var e *pbx.Error
				if !errors.As(err, &e) {
					t.Fatalf("error %v (%T) is not a *pbx.Error", err, err)
				}
				return
			}
			if !importSecrets && (row.SIPSecret != "" || row.PIN != "") {
				t.Fatal("a secret was mapped without import-secrets")
			}
			if row.Skip != nil && (row.Skip.Code == "" || row.Skip.Message == "") {
				t.Fatalf("skip without a reason: %+v", row.Skip)
			}
			if row.Raw != nil {
				t.Fatal("raw cells leaked out of the reader")
			}
		}
	})
}
