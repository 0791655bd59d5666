package pbx

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns s as an E.164 number ("+14155550100"), reading
// numbers without a country code in region (ISO 3166, e.g. "US"). field
// names the column in the error.
//
// Excel turns long digit strings into numbers and shows them in scientific
// notation ("1.41555E+10"), losing digits; that damage cannot be undone, so
// it gets its own code and a message that says how to avoid it.
//
// North American numbers in the common shapes skip phonenumbers.Parse (see
// parseNANP); everything else is parsed by libphonenumber. For many numbers
// use a PhoneNormalizer, which also remembers recent answers.
func NormalizePhone(s, region, field string) (string, error) {
	s = strings.TrimSpace(s)
	if national, ok := parseNANP(s, region); ok && nanpValid(national) {
		return "+1" + strconv.FormatUint(national, 10), nil
	}
	return normalizePhoneSlow(s, region, field)
}

// normalizePhoneSlow is the reference: every number through
// phonenumbers.Parse (≈10-30 µs a number).
func normalizePhoneSlow(s, region, field string) (string, error) {
	if LooksExcelMangled(s) {
		return "", Errorf(CodeExcelMangled, field, "looks like Excel turned the number into %s; format the column as Text and export again", s)
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", &Error{Code: CodeInvalidPhone, Field: field, Message: "\"" + ClipN(s, 40) + "\" is not a phone number", Err: err}
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", Errorf(CodeInvalidPhone, field, "%q is not a valid phone number (read with default region %s)", ClipN(s, 40), region)
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// parseNANP returns the 10-digit national number phonenumbers.Parse(s,
// region) would produce, with country code 1, when s has a shape for which
// that is certain without running Parse:
//
//   - "+1" and ten digits whose first is 2-9 (the area code's first digit),
//     in any region;
//   - in region US or CA, those ten digits alone, or after a leading 1.
//
// Only ASCII digits, spaces and - . ( ) may appear besides the leading '+';
// with these libphonenumber finds no extension, no second number and no
// letters, and strips every non-digit. Ten digits starting 2-9 cannot begin
// with the international prefix 011 nor with the national prefix 1, and an
// 11-digit national number is longer than any US or CA number, so Parse
// drops the leading 1 as the country code. TestNANPPreconditions checks
// these metadata facts; TestNormalizePhoneFastPathMatchesParse compares the
// two paths on many inputs.
func parseNANP(s, region string) (uint64, bool) {
	if len(s) < 10 || len(s) > 40 {
		return 0, false
	}
	plus := s[0] == '+'
	if plus {
		s = s[1:]
	} else if region != "US" && region != "CA" {
		return 0, false
	}
	var digits [11]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				return 0, false
			}
			digits[n] = c
			n++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return 0, false
		}
	}
	d := digits[:n]
	switch {
	case n == 11 && d[0] == '1':
		d = d[1:]
	case n == 10 && !plus:
	default:
		return 0, false
	}
	if d[0] < '2' {
		return 0, false
	}
	var v uint64
	for _, c := range d {
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// nanpValid is phonenumbers.IsValidNumber for country code 1 and a
// 10-digit national number. IsValidNumber finds the number's region (US
// first: the main region, which has no leading-digits pattern, so it is
// chosen exactly when the number is valid for it) and then checks the
// number against that region again; a number valid for US is therefore
// valid, and only the others need the full search.
func nanpValid(national uint64) bool {
	n := &phonenumbers.PhoneNumber{CountryCode: new(int32(1)), NationalNumber: new(national)}
	return phonenumbers.IsValidNumberForRegion(n, "US") || phonenumbers.IsValidNumber(n)
}

// nanpValid is the package-level nanpValid with the US check run on
// patterns compiled once, instead of through libphonenumber's per-call
// pattern building and shared regexp cache.
func (p *PhoneNormalizer) nanpValid(national uint64) bool {
	if !p.usSet {
		p.us, p.usSet = newRegionMatcher("US"), true
	}
	if p.us != nil && p.us.valid(strconv.FormatUint(national, 10)) {
		return true
	}
	n := &phonenumbers.PhoneNumber{CountryCode: new(int32(1)), NationalNumber: new(national)}
	return phonenumbers.IsValidNumber(n)
}

// regionMatcher answers phonenumbers.IsValidNumberForRegion for one
// region and numbers of that region's country code, with the region's
// patterns compiled once. It follows getNumberTypeHelper: a number is
// valid when it matches the general description and one of the type
// descriptions (mobile counts only when its pattern differs from fixed
// line's); each description matches when the number has one of its
// possible lengths (if it lists any) and matches its whole pattern.
type regionMatcher struct {
	general descMatcher
	types   []descMatcher // fixed line, mobile (if distinct), then the rest
}

type descMatcher struct {
	lengths []int32
	re      *regexp.Regexp
}

func (d *descMatcher) match(nsn string) bool {
	if len(d.lengths) > 0 && !slices.Contains(d.lengths, int32(len(nsn))) {
		return false
	}
	return d.re.MatchString(nsn)
}

// newRegionMatcher compiles region's patterns from the metadata
// libphonenumber itself loaded, or returns nil when they are not there.
func newRegionMatcher(region string) *regionMatcher {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil
	}
	for _, m := range coll.GetMetadata() {
		if m.GetId() != region {
			continue
		}
		compile := func(d *phonenumbers.PhoneNumberDesc) (descMatcher, bool) {
			re, err := regexp.Compile("^(?:" + d.GetNationalNumberPattern() + ")$")
			if err != nil {
				return descMatcher{}, false
			}
			return descMatcher{lengths: d.GetPossibleLength(), re: re}, true
		}
		rm := &regionMatcher{}
		var ok bool
		if rm.general, ok = compile(m.GetGeneralDesc()); !ok {
			return nil
		}
		descs := []*phonenumbers.PhoneNumberDesc{m.GetFixedLine()}
		if !m.GetSameMobileAndFixedLinePattern() {
			descs = append(descs, m.GetMobile())
		}
		descs = append(descs, m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
			m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail())
		for _, d := range descs {
			if d == nil { // no such numbers: matches nothing but ""
				continue
			}
			dm, ok := compile(d)
			if !ok {
				return nil
			}
			rm.types = append(rm.types, dm)
		}
		return rm
	}
	return nil
}

func (rm *regionMatcher) valid(nsn string) bool {
	if nsn == "" || !rm.general.match(nsn) {
		return false
	}
	for i := range rm.types {
		if rm.types[i].match(nsn) {
			return true
		}
	}
	return false
}

// PhoneNormalizer normalizes many numbers, as NormalizePhone does, and
// remembers the answers for recent inputs: HR exports repeat office and
// switchboard numbers. Memory is bounded by the size given to
// NewPhoneNormalizer. Not safe for concurrent use.
type PhoneNormalizer struct {
	us    *regionMatcher // compiled on first use; nil if unavailable
	usSet bool
	max   int
	memo  map[phoneKey]phoneResult // slow-path answers by (region, input)
	valid map[uint64]bool          // NANP validity by national number
}

type phoneKey struct{ region, raw string }

type phoneResult struct {
	e164 string
	err  *Error // with Field empty; set per call
}

// NewPhoneNormalizer returns a normalizer remembering up to size answers
// of each kind (0 means 4096).
func NewPhoneNormalizer(size int) *PhoneNormalizer {
	if size <= 0 {
		size = 4096
	}
	return &PhoneNormalizer{max: size, memo: make(map[phoneKey]phoneResult), valid: make(map[uint64]bool)}
}

// Normalize is NormalizePhone(s, region, field), answered from memory for
// inputs seen recently.
func (p *PhoneNormalizer) Normalize(s, region, field string) (string, error) {
	s = strings.TrimSpace(s)
	if national, ok := parseNANP(s, region); ok {
		valid, seen := p.valid[national]
		if !seen {
			valid = p.nanpValid(national)
			if len(p.valid) >= p.max {
				clear(p.valid)
			}
			p.valid[national] = valid
		}
		if valid {
			return "+1" + strconv.FormatUint(national, 10), nil
		}
		// Invalid: the reference path words the error.
	}
	k := phoneKey{region, s}
	r, seen := p.memo[k]
	if !seen {
		var err error
		if r.e164, err = normalizePhoneSlow(s, region, ""); err != nil && !errors.As(err, &r.err) {
			return "", err // not reached: the slow path's errors are *Error
		}
		if len(p.memo) >= p.max {
			clear(p.memo)
		}
		// Own copies: s usually shares memory with a whole CSV row.
		p.memo[phoneKey{strings.Clone(region), strings.Clone(s)}] = r
	}
	if r.err != nil {
		e := *r.err
		e.Field = field
		return "", &e
	}
	return r.e164, nil
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
