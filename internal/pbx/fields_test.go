package pbx

import (
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // substring of the reason; "" when the value is fine
	}{
		{"Ann-Marie O'Neil", ""},
		{"Zoë 山田", ""},
		{"An\nn", "control character U+000A at position 3"},
		{"An\u0085n", "control character U+0085"},
		{"a\u2028b", "control character U+2028"},
		{"bad\xffbyte", "encoding is damaged"},
		{"rep\uFFFDlaced", "encoding is damaged"},
		{"del\x7f", "U+007F"},
	} {
		got := CheckText(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("CheckText(%q) = %q, want it to contain %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ann@example.com", ""},
		{"Ann <ann@example.com>", "plain address"},
		{"ann@localhost", "no domain"},
		{"ann", "not a valid email"},
		{"ann@exa\r\nmple.com", "control character"},
		{strings.Repeat("a", 250) + "@x.com", "longer than 254"},
	} {
		got := CheckEmail(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("CheckEmail(%q) = %q, want it to contain %q", tc.in, got, tc.want)
		}
	}
}

func TestClipNeverSplitsACharacter(t *testing.T) {
	s := strings.Repeat("é", 50)
	got := ClipN(s, 10)
	if got != strings.Repeat("é", 10)+"…" {
		t.Errorf("ClipN = %q", got)
	}
	if Clip("short") != "short" {
		t.Errorf("Clip changed a short value")
	}
}

func TestHTTPStatusByClass(t *testing.T) {
	for code, want := range map[string]int{
		EINVALID: 400, CodeInvalidEmail: 400, "some_new_rule": 400,
		ENOTFOUND: 404,
		ECONFLICT: 409, CodeExtensionExists: 409, CodeMACTaken: 409,
		ELIMIT: 413, CodeFileTooLarge: 413, CodeThrottled: 429,
		EINTERNAL: 500, CodeEmailUncertain: 500,
	} {
		if got := HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, want)
		}
	}
}
