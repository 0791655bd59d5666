package provision

import (
	"fmt"
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

// zone is one supported IANA time zone with each vendor's name for it.
type zone struct {
	offsetMin int     // standard offset from UTC in minutes
	dst       dstRule // daylight saving regime
	posix     string  // POSIX TZ string (Grandstream P64)
	yealink   string  // Yealink local_time.time_zone_name
	snom      string  // Snom timezone code: country + offset (as wazo's snom plugin builds it)
}

// zones are the time zones we map for every vendor. A zone not listed here
// falls back to UTC with a row warning. A function so it cannot be mutated.
func zones() map[string]zone {
	return map[string]zone{
		"UTC":                 {0, dstNone, "UTC0", "UTC", "GMT+0"},
		"Etc/UTC":             {0, dstNone, "UTC0", "UTC", "GMT+0"},
		"America/New_York":    {-300, dstUS, "EST5EDT,M3.2.0,M11.1.0", "United States-Eastern Time", "USA-5"},
		"America/Toronto":     {-300, dstUS, "EST5EDT,M3.2.0,M11.1.0", "Canada(Eastern Time)", "CAN-5"},
		"America/Chicago":     {-360, dstUS, "CST6CDT,M3.2.0,M11.1.0", "United States-Central Time", "USA-6"},
		"America/Denver":      {-420, dstUS, "MST7MDT,M3.2.0,M11.1.0", "United States-Mountain Time", "USA-7"},
		"America/Phoenix":     {-420, dstNone, "MST7", "United States-MST no DST", "USA2-7"},
		"America/Los_Angeles": {-480, dstUS, "PST8PDT,M3.2.0,M11.1.0", "United States-Pacific Time", "USA-8"},
		"America/Vancouver":   {-480, dstUS, "PST8PDT,M3.2.0,M11.1.0", "Canada(Pacific Time)", "CAN-8"},
		"America/Anchorage":   {-540, dstUS, "AKST9AKDT,M3.2.0,M11.1.0", "United States-Alaska Time", "USA-9"},
		"Pacific/Honolulu":    {-600, dstNone, "HST10", "United States-Hawaii-Aleutian", "USA-10"},
		"Europe/London":       {0, dstEU, "GMT0BST,M3.5.0/1,M10.5.0", "Great Britain(London)", "GBR+0"},
		"Europe/Dublin":       {0, dstEU, "GMT0IST,M3.5.0/1,M10.5.0", "Ireland(Dublin)", "IRL+0"},
		"Europe/Paris":        {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "France(Paris)", "FRA+1"},
		"Europe/Berlin":       {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Germany(Berlin)", "GER+1"},
		"Europe/Madrid":       {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Spain(Madrid)", "ESP+1"},
		"Europe/Rome":         {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Italy(Rome)", "ITA+1"},
		"Europe/Amsterdam":    {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Netherlands(Amsterdam)", "NLD+1"},
		"Europe/Brussels":     {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Belgium(Brussels)", "BEL+1"},
		"Europe/Zurich":       {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Switzerland(Bern)", "CHE+1"},
		"Europe/Stockholm":    {60, dstEU, "CET-1CEST,M3.5.0,M10.5.0/3", "Sweden(Stockholm)", "SWE+1"},
		"Asia/Tokyo":          {540, dstNone, "JST-9", "Japan(Tokyo)", "JPN+9"},
		"Asia/Singapore":      {480, dstNone, "SGT-8", "Singapore(Singapore)", "SGP+8"},
		"Asia/Kolkata":        {330, dstNone, "IST-5:30", "India(Calcutta)", "IND+5.5"},
		"Australia/Sydney":    {600, dstAU, "AEST-10AEDT,M10.1.0,M4.1.0/3", "Australia(Sydney)", "AUS+10"},
	}
}

// lookupZone returns the zone for an IANA name, or UTC and a warning.
func lookupZone(all map[string]zone, name string, family Family) (zone, string) {
	if z, ok := all[name]; ok {
		return z, ""
	}
	return all["UTC"], fmt.Sprintf("time zone %q is not supported for %s phones; the phone uses UTC", name, family)
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
	fanvil      string // DefaultLanguage index (wazo's fanvil serie_x table)
}

// languages are keyed by lowercase BCP 47 tag; a bare language subtag is
// the fallback for its regional variants. Values follow the locale tables
// of wazo-provd-plugins' yealink, polycom, grandstream, cisco_spa, snom and
// fanvil plugins.
func languages() map[string]language {
	en := language{"English", "English_United_States", "en", "English", "en-US", "English", "USA", "0"}
	gb := en
	gb.polycom, gb.ciscoLocale, gb.snomTones = "English_United_Kingdom", "en-GB", "GBR"
	fr := language{"French", "French_France", "fr", "French", "fr-FR", "Français", "FRA", "4"}
	ca := fr
	ca.ciscoLocale, ca.snomTones = "fr-CA", "USA"
	de := language{"German", "German_Germany", "de", "German", "de-DE", "Deutsch", "GER", "16"}
	es := language{"Spanish", "Spanish_Spain", "es", "Spanish", "es-ES", "Espanol", "ESP", "10"}
	it := language{"Italian", "Italian_Italy", "it", "Italian", "it-IT", "Italiano", "ITA", "7"}
	nl := language{"Dutch", "Dutch_Netherlands", "nl", "Dutch", "nl-NL", "Nederlands", "NLD", "3"}
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

// hoursOffset formats a minute offset as signed hours: "-8", "+0", "+5.5".
func hoursOffset(min int) string {
	if min%60 == 0 {
		return fmt.Sprintf("%+d", min/60)
	}
	return fmt.Sprintf("%+.1f", float64(min)/60)
}

// gmtOffset formats a minute offset as "GMT-08:00" (Cisco Time_Zone).
func gmtOffset(min int) string {
	sign := '+'
	if min < 0 {
		sign, min = '-', -min
	}
	return fmt.Sprintf("GMT%c%02d:%02d", sign, min/60, min%60)
}
