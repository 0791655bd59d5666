package pbx

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, region string
		want       string
		code       string
	}{
		{"+1 415 555 0100", "US", "+14155550100", ""},
		{"(415) 555-0101", "US", "+14155550101", ""},
		{"415-555-0103", "US", "+14155550103", ""},
		{"14155550105", "US", "+14155550105", ""},
		{"+1 (415) 555-0102", "US", "+14155550102", ""},
		{"+49 30 901820", "US", "+4930901820", ""},
		{"030 901820", "DE", "+4930901820", ""},
		{"1.41555E+10", "US", "", CodeExcelMangled},
		{"4,9309E+10", "DE", "", CodeExcelMangled},
		{"12345", "US", "", CodeInvalidPhone},
		{"call me", "US", "", CodeInvalidPhone},
		{"+1 415 555 0100 ext", "US", "", CodeInvalidPhone},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in, tt.region, "did")
		if got != tt.want || ErrorCode(err) != tt.code {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q code %q", tt.in, tt.region, got, err, tt.want, tt.code)
		}
		var e *Error
		if tt.code != "" && (!errors.As(err, &e) || e.Field != "did") {
			t.Errorf("NormalizePhone(%q) error %v does not name the field", tt.in, err)
		}
	}
	_, err := NormalizePhone("1.41555E+10", "US", "did")
	if msg := ErrorMessage(err); !strings.Contains(msg, "Excel turned the number into 1.41555E+10") || !strings.Contains(msg, "Text") {
		t.Errorf("Excel message = %q", msg)
	}
}

func TestLooksExcelMangled(t *testing.T) {
	for s, want := range map[string]bool{
		"1.41555E+10": true, "1E+10": true, "4.9e11": true, "1,41555E+10": true, "-1.2E-3": true,
		"14155550100": false, "+14155550100": false, "E+10": false, "1.E+10": false, "1.4E": false, "1.4E+": false, "": false,
	} {
		if got := LooksExcelMangled(s); got != want {
			t.Errorf("LooksExcelMangled(%q) = %v, want %v", s, got, want)
		}
	}
}
