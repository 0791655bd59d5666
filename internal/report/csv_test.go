package report

import (
	"bytes"
	"encoding/csv"
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
