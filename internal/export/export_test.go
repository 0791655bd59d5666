package export

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulkprov/bulkprov/internal/csvin"
	"github.com/bulkprov/bulkprov/internal/store"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func users() []store.UserRecord {
	return []store.UserRecord{
		{Extension: "100", FirstName: "Ann", LastName: "Lee", Email: "ann.lee@example.com", Mobile: "+14155550100",
			DID: "+14155550101", MAC: "001565a1b2c3", PhoneModel: "yealink-t54w", CallerID: "+14155550101", Department: "Sales",
			SIPUser: "100-acme", Voicemail: true, JobID: "j1"},
		{Extension: "101", FirstName: "Bruno", LastName: "Diaz, Jr.", CallerID: "Front Desk <+14155550199>", Department: "=HYPERLINK(\"x\")"},
		{Extension: "102", FirstName: "@cmd", LastName: "-1", Department: "+Ops"},
		{Extension: "1000", FirstName: "Zoë"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n%s", name, got)
	}
}

func TestWriteCSVGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, users()); err != nil {
		t.Fatal(err)
	}
	golden(t, "users.csv.golden", b.Bytes())
}

func TestWriteJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, users()); err != nil {
		t.Fatal(err)
	}
	golden(t, "users.json.golden", b.Bytes())
	b.Reset()
	if err := WriteJSON(&b, nil); err != nil || b.String() != "[]\n" {
		t.Errorf("no users: %q %v", b.String(), err)
	}
}

// TestCSVReadsBackAsTemplate: the export is our template: csvin maps every
// column, and each cell reads back to the stored value once ingest strips a
// formula escape.
func TestCSVReadsBackAsTemplate(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, users()); err != nil {
		t.Fatal(err)
	}
	rd := csvin.NewReader(&b, csvin.Limits{})
	h, err := rd.Header()
	if err != nil || len(h.Unknown) != 0 {
		t.Fatalf("header %v %v", h, err)
	}
	rec, err := rd.Read()
	if err != nil {
		t.Fatal(err)
	}
	u := users()[0]
	if rec.Fields[csvin.Mobile] != u.Mobile || rec.Fields[csvin.MAC] != u.MAC || rec.Fields[csvin.CallerID] != u.CallerID {
		t.Errorf("row 1 read back as %+v", rec.Fields)
	}
	rec, _ = rd.Read()
	if rec.Fields[csvin.LastName] != "Diaz, Jr." || rec.Fields[csvin.Department] != `'=HYPERLINK("x")` {
		t.Errorf("row 2 read back as %+v", rec.Fields)
	}
}

func TestEscapeFormula(t *testing.T) {
	for _, tc := range []struct {
		c    csvin.Column
		in   string
		want string
	}{
		{csvin.Mobile, "+14155550100", "+14155550100"},
		{csvin.CallerID, "+1 (415) 555-0100", "+1 (415) 555-0100"},
		{csvin.FirstName, "+Ann", "'+Ann"},
		{csvin.Department, "=1+1", "'=1+1"},
		{csvin.Mobile, "+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"},
		{csvin.LastName, "-", "'-"},
		{csvin.Email, "ann@example.com", "ann@example.com"},
	} {
		if got := EscapeFormula(tc.c, tc.in); got != tc.want {
			t.Errorf("EscapeFormula(%s, %q) = %q, want %q", tc.c, tc.in, got, tc.want)
		}
	}
}
