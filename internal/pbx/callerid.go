package pbx

import "strings"

// ParseCallerID splits a caller_id cell the way Build reads it: `Name
// <number>` (name optional) or a bare number.
func ParseCallerID(cell string) (name, number string) {
	cell = strings.TrimSpace(cell)
	if m := callerIDRE.FindStringSubmatch(cell); m != nil {
		return m[1], m[2]
	}
	return "", cell
}

// maxShortNumberDigits: a number with at most this many digits is a short
// code (emergency 911/112/999/000, N11 service codes, carrier short codes),
// never a tenant's caller ID.
const maxShortNumberDigits = 6

// IsEmergencyNumber reports whether n (any notation) is an emergency or
// other short service number: 911, 112, 999, 000, 110, 311, ….
func IsEmergencyNumber(n string) bool {
	digits := 0
	for i := 0; i < len(n); i++ {
		if n[i] >= '0' && n[i] <= '9' {
			digits++
		}
	}
	return digits > 0 && digits <= maxShortNumberDigits
}

// Codes of the tenant boundary (issue #17).
const (
	// CodeDIDUnavailable is the one answer for a DID the tenant may not
	// use, whatever the reason: another tenant's, not in the operator's
	// inventory, free but not allowed.
	CodeDIDUnavailable = "did_unavailable"
	// CodeCallerIDNotAllowed: the caller ID is not one of the tenant's
	// numbers nor one the operator allowed, or is an emergency number.
	CodeCallerIDNotAllowed = "caller_id_not_allowed"
)
