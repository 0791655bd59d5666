package report

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

func TestSafeCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"Ann":               "Ann",
		"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")",
		"+14155550100":      "'+14155550100",
		"-1":                "'-1",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"\rx":               "'\rx",
		"a=b":               "a=b",
		"a-b, c":            "a-b, c",
		"Lee, Ann; Sales":   "Lee, Ann; Sales",
		// Issue #17: a formula after any separator a spreadsheet may split on.
		"1;=2+3;x":               "1;'=2+3;x",
		"1,=2+3,x":               "1,'=2+3,x",
		"1\t=2+3":                "1\t'=2+3",
		"a; +1; -2; @x":          "a; '+1; '-2; '@x",
		"x;\"=HYPERLINK(1)\"":    "x;\"'=HYPERLINK(1)\"",
		"ok\n=cmd|' /C calc'!A0": "ok\n'=cmd|' /C calc'!A0",
		"=1;=2":                  "'=1;'=2",
	} {
		if got := SafeCell(in); got != want {
			t.Errorf("SafeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write("line", "=cmd|' /C calc'!A0", "multi\nline, \"quoted\""); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rec, err := csv.NewReader(&buf).Read()
	if err != nil {
		t.Fatal(err)
	}
	if rec[1] != "'=cmd|' /C calc'!A0" || rec[2] != "multi\nline, \"quoted\"" {
		t.Fatalf("round trip = %q", rec)
	}
}

// TestWriterNoFormulaUnderAnySeparator (issue #17): a report cell read back
// by a spreadsheet that splits on `,`, `;` or tab never starts a formula.
func TestWriterNoFormulaUnderAnySeparator(t *testing.T) {
	cells := []string{"1;=2+3;x", "Ann,=1+1", "a\t@SUM(A1)", "b; -2", "c;\"=cmd|' /C calc'!A0\"", "+14155550100", "ok"}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Write(cells...); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, sep := range []rune{',', ';', '\t'} {
		r := csv.NewReader(bytes.NewReader(buf.Bytes()))
		r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
		rec, err := r.Read()
		if err != nil {
			t.Fatalf("separator %q: %v", sep, err)
		}
		for _, f := range rec {
			f = strings.TrimLeft(f, " \"")
			if f != "" && strings.ContainsRune("=+-@", rune(f[0])) {
				t.Errorf("separator %q: cell %q starts a formula (line %q)", sep, f, buf.String())
			}
		}
	}
}
