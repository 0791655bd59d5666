package pbx

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// The one home of the field rules that upload validation (ingest), the
// domain objects' Validate methods and the portal share. Each Check
// function returns why a value breaks the rule, as a phrase that follows
// the field's name ("first_name contains …"), or "" when it is fine.

// MaxFieldLen bounds free-text fields (names, department), in bytes.
const MaxFieldLen = 254

// MaxEmailLen bounds an email address, in bytes (RFC 5321's path limit less
// the angle brackets).
const MaxEmailLen = 254

// clipRunes is how much of a value a message quotes by default.
const clipRunes = 40

// CheckText rejects control characters (C0, DEL, C1, Unicode's line and
// paragraph separators: a line break would allow header injection where a
// value reaches an email), the replacement character U+FFFD (a damaged
// encoding) and invalid UTF-8. Length is checked by CheckLength.
func CheckText(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return fmt.Sprintf("contains the control character %U at position %d; remove it (line breaks inside a cell are not allowed)", rune(c), utf8.RuneCountInString(s[:i])+1)
		}
		if c < utf8.RuneSelf {
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError: // U+FFFD itself or a byte that is not UTF-8
			return "contains the replacement character \uFFFD: the file's encoding is damaged; export it again as UTF-8"
		case r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029:
			return fmt.Sprintf("contains the control character %U at position %d; remove it", r, utf8.RuneCountInString(s[:i])+1)
		}
		i += size - 1
	}
	return ""
}

// CheckLength rejects values longer than max bytes.
func CheckLength(s string, max int) string {
	if len(s) > max {
		return fmt.Sprintf("is longer than %d bytes", max)
	}
	return ""
}

// CheckEmail returns why e is not a bare RFC 5322 addr-spec with a dotted
// domain, or "".
func CheckEmail(e string) string {
	if len(e) > MaxEmailLen {
		return fmt.Sprintf("is longer than %d characters", MaxEmailLen)
	}
	if why := CheckText(e); why != "" {
		return why
	}
	a, err := mail.ParseAddress(e)
	switch {
	case err != nil:
		return "is not a valid email address"
	case a.Name != "" || a.Address != e:
		return "must be a plain address such as ann@example.com, without a name or angle brackets"
	case !strings.Contains(a.Address[strings.LastIndexByte(a.Address, '@'):], "."):
		return "has no domain such as example.com after the @"
	}
	return ""
}

// Clip shortens a value quoted in a message to 40 characters.
func Clip(s string) string { return ClipN(s, clipRunes) }

// ClipN shortens s to at most n characters (never splitting one) and marks
// the cut with an ellipsis.
func ClipN(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
