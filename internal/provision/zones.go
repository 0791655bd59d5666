package provision

import (
	"fmt"
	"sort"
	"strings"
)

// dstRule is a daylight saving regime; the phones that cannot take a POSIX
// TZ string need it spelled out in their own terms.
type dstRule int

const (
	dstNone dstRule = iota
	dstUS           // second Sunday of March 02:00 → first Sunday of November 02:00 (local)
	dstEU           // last Sunday of March 01:00 UTC → last Sunday of October 01:00 UTC
	dstAU           // first Sunday of October 02:00 → first Sunday of April 03:00 (local)
)

// zone is one supported IANA time zone with the value each vendor's own
// table has for it (testdata/vendor-zones/*.tsv, each with its source; the
// tests check every value against them). An empty vendor value means the
// vendor's table cannot express the zone: the row gets a warning and the
// file leaves the phone's own clock settings alone, never a wrong clock.
type zone struct {
	offsetMin int     // standard offset from UTC in minutes
	dst       dstRule // daylight saving regime
	// Yealink local_time.time_zone and time_zone_name from Yealink's AutoDST
	// table; yealinkAuto is true when that table entry carries this zone's
	// DST rule (else the rule is written out, summer_time = 1).
	yealinkOffset, yealinkName string
	yealinkAuto                bool
	snom                       string // Snom timezone code
	gsP64, gsP246              string // Grandstream P64 value; P246 when P64 is "customize"
}

// zones are the time zones we map for every vendor. A function so it
// cannot be mutated.
func zones() map[string]zone {
	cet := func(yealinkName, snom string) zone {
		return zone{60, dstEU, "+1", yealinkName, true, snom, "CET-1CEST-2,M3.5.0/02:00:00,M10.5.0/03:00:00", ""}
	}
	us := func(off int, yealinkName, snom, gs string) zone {
		return zone{off, dstUS, fmt.Sprintf("%d", off/60), yealinkName, true, snom, gs, ""}
	}
	return map[string]zone{
		// No Snom code is plain UTC (every 0-offset code has EU DST).
		"UTC":                 {0, dstNone, "0", "GMT", false, "", "TZN+0", ""},
		"Etc/UTC":             {0, dstNone, "0", "GMT", false, "", "TZN+0", ""},
		"America/New_York":    us(-300, "United States-Eastern Time", "USA-5", "EST5EDT"),
		"America/Toronto":     us(-300, "Canada(Montreal,Ottawa,Quebec)", "CAN-5", "EST5EDT"),
		"America/Chicago":     us(-360, "United States-Central Time", "USA-6", "CST6CDT"),
		"America/Winnipeg":    us(-360, "Canada-Manitoba(Winnipeg)", "CAN-6", "CST6CDT"),
		"America/Edmonton":    us(-420, "Canada(Edmonton,Calgary)", "CAN-7", "MST7MDT"),
		"America/Los_Angeles": us(-480, "United States-Pacific Time", "USA-8", "PST8PDT"),
		"America/Vancouver":   us(-480, "Canada(Vancouver,Whitehorse)", "CAN-8", "PST8PDT"),
		"America/Anchorage":   us(-540, "United States-Alaska Time", "USA-9", "AKST9AKDT"),
		"America/Halifax":     us(-240, "Canada(Halifax,Saint John)", "CAN-4", "AST4ADT"),
		// Yealink's "United States-Mountain Time" entry has no DST rule, so
		// the US rule is written out for it (yealinkAuto false).
		"America/Denver":   {-420, dstUS, "-7", "United States-Mountain Time", false, "USA-7", "MST7MDT", ""},
		"America/Phoenix":  {-420, dstNone, "-7", "United States-MST no DST", false, "USA2-7", "MST7", ""},
		"Pacific/Honolulu": {-600, dstNone, "-10", "United States-Hawaii-Aleutian", false, "USA-10", "HAW10", ""},
		// Brazil has had no DST since 2019: Grandstream's Sao Paulo entry
		// still has it, so the self-defined POSIX string is used instead.
		"America/Sao_Paulo": {-180, dstNone, "-3", "Brazil(no DST)", false, "BRA2-3", "customize", "BRT3"},
		"Europe/London":     {0, dstEU, "0", "United Kingdom(London)", true, "GBR-0", "GMT+0BST-1,M3.5.0/01:00:00,M10.5.0/02:00:00", ""},
		"Europe/Dublin":     {0, dstEU, "0", "Ireland(Dublin)", true, "IRL-0", "GMT+0IST-1,M3.5.0/01:00:00,M10.5.0/02:00:00", ""},
		"Europe/Lisbon":     {0, dstEU, "0", "Portugal(Lisboa,Porto,Funchal)", true, "PRT-0", "WET-0WEST-1,M3.5.0/01:00:00,M10.5.0/02:00:00", ""},
		"Europe/Paris":      cet("France(Paris)", "FRA+1"),
		"Europe/Berlin":     cet("Germany(Berlin)", "GER+1"),
		"Europe/Vienna":     cet("Austria(Vienna)", "AUT+1"),
		"Europe/Rome":       cet("Italy(Rome)", "ITA+1"),
		"Europe/Amsterdam":  cet("Netherlands(Amsterdam)", "NLD+1"),
		"Europe/Brussels":   cet("Belgium(Brussels)", "BEL+1"),
		"Europe/Stockholm":  cet("Sweden(Stockholm)", "SWE+1"),
		// Yealink's table has no Madrid or Bern entry: the Berlin entry has
		// the same offset and the same built-in rule.
		"Europe/Madrid":    cet("Germany(Berlin)", "ESP+1"),
		"Europe/Zurich":    cet("Germany(Berlin)", "CHE+1"),
		"Asia/Kolkata":     {330, dstNone, "+5:30", "India(Calcutta)", false, "IND+5.5", "TZT-5:30", ""},
		"Asia/Singapore":   {480, dstNone, "+8", "Singapore(Singapore)", false, "SGP+8", "SGT-8", ""},
		"Asia/Shanghai":    {480, dstNone, "+8", "China(Beijing)", false, "CHN+8", "TZY-8", ""},
		"Asia/Tokyo":       {540, dstNone, "+9", "Japan(Tokyo)", false, "JPN+9", "TZZ-9", ""},
		"Australia/Sydney": {600, dstAU, "+10", "Australia(Sydney,Melbourne,Canberra)", true, "AUS+10", "EST-10EDT-11,M10.1.0/02:00:00,M4.1.0/03:00:00", ""},
		"Australia/Melbourne": {600, dstAU, "+10", "Australia(Sydney,Melbourne,Canberra)", true, "AUS+10",
			"EST-10EDT-11,M10.1.0/02:00:00,M4.1.0/03:00:00", ""},
		"Australia/Brisbane": {600, dstNone, "+10", "Australia(Brisbane)", false, "AUS2+10", "EST-10", ""},
	}
}

// SupportedTimeZones returns the IANA names every family is mapped for,
// sorted.
func SupportedTimeZones() []string {
	names := make([]string, 0, 40)
	for n := range zones() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// zoneFor is the time zone a file is rendered with: ok is false when the
// zone is unknown or the family's table cannot express it, and the warning
// says so for the row.
func zoneFor(all map[string]zone, name string, family Family) (z zone, ok bool, warning string) {
	z, known := all[name]
	if !known {
		return zone{}, false, fmt.Sprintf("time zone %q is not one bulkprov maps to phone settings (supported: %s); the %s phone keeps its own time zone setting",
			name, strings.Join(SupportedTimeZones(), ", "), family)
	}
	if why := z.unsupportedBy(family); why != "" {
		return zone{}, false, fmt.Sprintf("time zone %q cannot be expressed for %s phones (%s); the phone keeps its own time zone setting", name, family, why)
	}
	return z, true, ""
}

// unsupportedBy says why family's table has no value for z, or "".
func (z zone) unsupportedBy(f Family) string {
	switch f {
	case Yealink:
		if z.yealinkName == "" {
			return "no entry in Yealink's time zone table"
		}
	case Snom:
		if z.snom == "" {
			return "Snom's table has no code for it"
		}
	case Grandstream:
		if z.gsP64 == "" {
			return "no P64 value"
		}
	case Fanvil:
		if z.offsetMin%60 != 0 || z.offsetMin < -720 || z.offsetMin > 720 {
			return "Fanvil's table has whole-hour offsets only"
		}
	case Cisco:
		if !ciscoOffsetOK(z.offsetMin) {
			return "not an offset in Cisco's Time_Zone list"
		}
	}
	return ""
}

// ciscoOffsetOK reports an offset in Cisco's Time_Zone list: whole hours
// -12..+13 and the listed half/quarter hours.
func ciscoOffsetOK(min int) bool {
	if min%60 == 0 {
		return min >= -720 && min <= 780
	}
	switch min {
	case -210, 210, 270, 330, 345, 390, 570, 630:
		return true
	}
	return false
}

// language is one supported language with each vendor's value for it.
type language struct {
	yealink     string // lang.gui / lang.wui
	polycom     string // lcl.ml.lang
	grandstream string // P1362
	ciscoLang   string // Language_Selection
	ciscoLocale string // Locale
	snomLang    string // language
	snomTones   string // tone_scheme
	fanvil      string // DefaultLanguage code of the new models (wazo fanvil _NEW_SUPPORTED_LANGUAGES)
	fanvilTone  string // SelectYourTone (wazo fanvil _COUNTRY)
}

// languages are keyed by lowercase BCP 47 tag; a bare language subtag is
// the fallback for its regional variants. Values follow the locale tables
// of wazo-provd-plugins' yealink, polycom, grandstream, cisco_spa, snom and
// fanvil plugins.
func languages() map[string]language {
	en := language{"English", "English_United_States", "en", "English", "en-US", "English", "USA", "en", "11"}
	gb := en
	gb.polycom, gb.ciscoLocale, gb.snomTones, gb.fanvilTone = "English_United_Kingdom", "en-GB", "GBR", "13"
	fr := language{"French", "French_France", "fr", "French", "fr-FR", "Français", "FRA", "fr", "25"}
	ca := fr
	ca.ciscoLocale, ca.snomTones, ca.fanvilTone = "fr-CA", "USA", "18"
	de := language{"German", "German_Germany", "de", "German", "de-DE", "Deutsch", "GER", "de", "2"}
	es := language{"Spanish", "Spanish_Spain", "es", "Spanish", "es-ES", "Español", "ESP", "es", "33"}
	it := language{"Italian", "Italian_Italy", "it", "Italian", "it-IT", "Italiano", "ITA", "it", "21"}
	nl := language{"Dutch", "Dutch_Netherlands", "nl", "Dutch", "nl-NL", "Nederlands", "NLD", "nl", "5"}
	return map[string]language{
		"en": en, "en-us": en, "en-gb": gb,
		"fr": fr, "fr-fr": fr, "fr-ca": ca,
		"de": de, "de-de": de,
		"es": es, "es-es": es,
		"it": it, "it-it": it,
		"nl": nl, "nl-nl": nl,
	}
}

// lookupLanguage returns the language for a BCP 47 tag: the exact tag, else
// its primary subtag, else English with a warning.
func lookupLanguage(all map[string]language, tag string) (language, string) {
	norm := strings.ToLower(strings.ReplaceAll(tag, "_", "-"))
	if l, ok := all[norm]; ok {
		return l, ""
	}
	base, _, _ := strings.Cut(norm, "-")
	if l, ok := all[base]; ok {
		return l, ""
	}
	return all["en-us"], fmt.Sprintf("language %q is not supported by the phone templates; the phone uses English", tag)
}

// gmtOffset formats a minute offset as "GMT-08:00" (Cisco Time_Zone).
func gmtOffset(min int) string {
	sign := '+'
	if min < 0 {
		sign, min = '-', -min
	}
	return fmt.Sprintf("GMT%c%02d:%02d", sign, min/60, min%60)
}
