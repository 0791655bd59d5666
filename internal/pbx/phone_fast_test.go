package pbx

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// phoneOutcome is what a caller sees of one normalization.
type phoneOutcome struct{ e164, code, msg, field string }

func outcome(e164 string, err error) phoneOutcome {
	o := phoneOutcome{e164: e164, code: ErrorCode(err), msg: ErrorMessage(err)}
	if e, ok := err.(*Error); ok {
		o.field = e.Field
	}
	return o
}

// phoneRegions: the fast path's regions first; the others get a sample.
var phoneRegions = []string{"US", "CA", "", "PR", "DE", "GB", "FR", "JM", "IT", "ZZ", "us"}

// phoneInputs returns real-world cells (every cell of the example and
// encoding test files), the formats people and spreadsheets write, and
// random digits with random punctuation, NANP and not.
func phoneInputs(t testing.TB) []string {
	in := []string{
		"+1 415 555 0100", "(415) 555-0101", "+1 (415) 555-0102", "415-555-0103", "14155550105", "+14155550100",
		"415.555.0100", "1-415-555-0100", "1 (415) 555-0100", "+1-415-555-0100", "+1.415.555.0100", "4155550100",
		"+1 416 555 0199", "(604) 555-0123", "+1 876 555 0100", "+1 787 555 0100", "+1 800 555 0100", "+1 900 555 0100",
		"+1 555 555 0100", "+1 211 555 0100", "+1 999 555 0100", "+1 415 055 0100", "+1 415 155 0100", "+1 315 555 0100",
		"+1 011 555 0100", "011 44 20 7946 0958", "+1 415 555 01000", "+1 415 555 010", "+ 1 415 555 0100",
		"++1 415 555 0100", "(+1) 415 555 0100", "+1 415 555 0100 ext 12", "+1 415 555 0100 x12", "415-555-0100#",
		"415 555 0100 - 503#", "+1 415 555 0100;ext=7", "415/555/0100", "+1 415 555 0100\t", "１４１５５５５０１００",
		"+1 ４１５ 555 0100", "1-800-FLOWERS", "+1 415 CALL NOW", "tel:+1-415-555-0100", "1.41555E+10", "4,9309E+10",
		"+49 30 901820", "030 901820", "+44 20 7946 0958", "020 7946 0958", "+39 06 6982 0000", "+33 1 42 68 53 00",
		"12345", "call me", "", " ", "+", "+1", "1", "(", "()", ")415(555)0100(", "--415--555--0100--", "..4155550100..",
		"1 1 4155550100", "11 4155550100", "+11 4155550100", "+12 4155550100", "0 4155550100", "00 1 415 555 0100",
		"+1 (415) 555-0102 ", " 415 555 0100", "41555501001", "24155550100", "+1 2015550123", "2015550123", "1 2015550123",
	}
	for _, dir := range []string{"../ingest/testdata/examples", "../csvin/testdata"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, strings.FieldsFunc(string(b), func(r rune) bool { return r == ',' || r == ';' || r == '\t' || r == '\n' || r == '\r' || r == '"' })...)
		}
	}
	rng := rand.New(rand.NewPCG(4, 2026))
	seps := []string{"", " ", "-", ".", "(", ")", "  ", ") ", "/", "x", "#", ",", "\t", "+", "e"}
	for range 3000 {
		var b strings.Builder
		switch rng.IntN(4) {
		case 0:
			b.WriteString("+")
		case 1:
			b.WriteString("+1")
		case 2:
			b.WriteString("1")
		}
		ndigits := 7 + rng.IntN(6)
		for i := range ndigits {
			if i > 0 && rng.IntN(4) == 0 {
				b.WriteString(seps[rng.IntN(len(seps))])
			}
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		in = append(in, b.String())
	}
	// Well-formed NANP numbers over every area code and exchange digit.
	for range 3000 {
		npa, nxx, line := 100+rng.IntN(900), 100+rng.IntN(900), rng.IntN(10000)
		formats := []string{"+1 %03d %03d %04d", "(%03d) %03d-%04d", "1-%03d-%03d-%04d", "+1%03d%03d%04d", "%03d.%03d.%04d", "%03d%03d%04d"}
		in = append(in, fmt.Sprintf(formats[rng.IntN(len(formats))], npa, nxx, line))
	}
	return in
}

// TestNormalizePhoneFastPathMatchesParse is the differential test: for
// every input and region, NormalizePhone and PhoneNormalizer (with a small
// memory, so that it is emptied many times, and asked twice) answer
// exactly what the reference path through phonenumbers.Parse answers.
func TestNormalizePhoneFastPathMatchesParse(t *testing.T) {
	inputs := phoneInputs(t)
	norm := NewPhoneNormalizer(64)
	fast := 0
	for ri, region := range phoneRegions {
		for i, s := range inputs {
			if (ri > 2 && i%5 != 0) || (testing.Short() && i%10 != 0) {
				continue
			}
			field := []string{"mobile", "did"}[i%2]
			want := outcome(normalizePhoneSlow(strings.TrimSpace(s), region, field))
			if got := outcome(NormalizePhone(s, region, field)); got != want {
				t.Errorf("NormalizePhone(%q, %q) = %+v; Parse path says %+v", s, region, got, want)
			}
			for range 2 {
				if got := outcome(norm.Normalize(s, region, field)); got != want {
					t.Errorf("PhoneNormalizer.Normalize(%q, %q) = %+v; Parse path says %+v", s, region, got, want)
				}
			}
			if _, ok := parseNANP(strings.TrimSpace(s), region); ok {
				fast++
			}
		}
	}
	if fast < 5000 {
		t.Errorf("only %d inputs took the fast path; the test does not exercise it", fast)
	}
}

// TestNANPPreconditions checks the libphonenumber metadata facts parseNANP
// and nanpValid rely on, so that a metadata update that breaks them fails
// here rather than changing answers.
func TestNANPPreconditions(t *testing.T) {
	regions := phonenumbers.GetRegionCodesForCountryCode(1)
	if len(regions) == 0 || regions[0] != "US" {
		t.Fatalf("regions for +1 = %v; US must come first", regions)
	}
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range coll.GetMetadata() {
		id := m.GetId()
		if id != "US" && id != "CA" {
			continue
		}
		seen[id] = true
		if id == "US" && m.GetLeadingDigits() != "" {
			t.Errorf("US has leading digits %q", m.GetLeadingDigits())
		}
		if m.GetCountryCode() != 1 || m.GetInternationalPrefix() != "011" || m.GetNationalPrefix() != "1" {
			t.Errorf("%s: country code %d, international prefix %q, national prefix %q", id, m.GetCountryCode(), m.GetInternationalPrefix(), m.GetNationalPrefix())
		}
		if p := m.GetNationalPrefixForParsing(); p != "" && p != "1" {
			t.Errorf("%s: national prefix for parsing %q", id, p)
		}
		if l := m.GetGeneralDesc().GetPossibleLength(); len(l) == 0 || slices.Max(l) != 10 {
			t.Errorf("%s: possible lengths %v; an 11-digit number must be too long", id, l)
		}
	}
	if !seen["US"] || !seen["CA"] {
		t.Errorf("metadata for US and CA not found: %v", seen)
	}
}

// FuzzNormalizePhone compares the fast paths with the reference on
// arbitrary input.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"+1 415 555 0100", "(415) 555-0101", "14155550105", "+49 30 901820", "1.41555E+10", "+1 (415) 555-0102 x7"} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, r uint8) {
		region := phoneRegions[int(r)%len(phoneRegions)]
		want := outcome(normalizePhoneSlow(strings.TrimSpace(s), region, "did"))
		if got := outcome(NormalizePhone(s, region, "did")); got != want {
			t.Fatalf("NormalizePhone(%q, %q) = %+v; Parse path says %+v", s, region, got, want)
		}
		if got := outcome(NewPhoneNormalizer(1).Normalize(s, region, "did")); got != want {
			t.Fatalf("Normalize(%q, %q) = %+v; Parse path says %+v", s, region, got, want)
		}
	})
}

// TestRegionMatcherMatchesLibrary compares the precompiled US check with
// phonenumbers.IsValidNumberForRegion on numbers of every area code and
// of wrong lengths.
func TestRegionMatcherMatchesLibrary(t *testing.T) {
	rm := newRegionMatcher("US")
	if rm == nil {
		t.Fatal("no US matcher: metadata not found")
	}
	rng := rand.New(rand.NewPCG(7, 1))
	valid := 0
	for i := range 20000 {
		national := uint64(2_000_000_000 + rng.Int64N(8_000_000_000))
		switch i % 10 {
		case 0:
			national /= 10 // 9 digits
		case 1:
			national = national*10 + uint64(rng.IntN(10)) // 11 digits
		}
		n := &phonenumbers.PhoneNumber{CountryCode: new(int32(1)), NationalNumber: new(national)}
		want := phonenumbers.IsValidNumberForRegion(n, "US")
		if got := rm.valid(fmt.Sprint(national)); got != want {
			t.Errorf("US matcher says %d valid = %v; libphonenumber says %v", national, got, want)
		}
		if want {
			valid++
		}
	}
	if valid < 1000 {
		t.Errorf("only %d valid numbers drawn; the test does not exercise the valid side", valid)
	}
}
