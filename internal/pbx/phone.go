package pbx

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns s as an E.164 number ("+14155550100"), reading
// numbers without a country code in region (ISO 3166, e.g. "US"). field
// names the column in the error. It parses s once: libphonenumber costs
// about 10-30 µs a number, the largest part of validating a row.
//
// Excel turns long digit strings into numbers and shows them in scientific
// notation ("1.41555E+10"), losing digits; that damage cannot be undone, so
// it gets its own code and a message that says how to avoid it.
func NormalizePhone(s, region, field string) (string, error) {
	s = strings.TrimSpace(s)
	if LooksExcelMangled(s) {
		return "", Errorf(CodeExcelMangled, field, "looks like Excel turned the number into %s; format the column as Text and export again", s)
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", &Error{Code: CodeInvalidPhone, Field: field, Message: "\"" + truncate(s, 40) + "\" is not a phone number", Err: err}
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", Errorf(CodeInvalidPhone, field, "%q is not a valid phone number (read with default region %s)", truncate(s, 40), region)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// LooksExcelMangled reports whether s is a number in scientific notation,
// as Excel displays long numbers: digits, an optional fraction, E, exponent
// ("1.41555E+10", "4.9E+11", "1,41555E+10" in locales with a decimal comma).
func LooksExcelMangled(s string) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i >= len(s) || (s[i] != 'E' && s[i] != 'e') {
		return false
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	return digits() > 0 && i == len(s)
}
