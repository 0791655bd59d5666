package pbx

import "strings"

// NormalizeMAC returns a device MAC in the canonical form the provisioning
// files are named by: 12 lowercase hex digits. It accepts the notations
// people paste from stickers and switches: 00:15:65:AA:BB:CC,
// 00-15-65-aa-bb-cc, 0015.65aa.bbcc and 001565AABBCC. The broadcast, the
// all-zero and multicast (I/G bit set) addresses cannot be a phone's, so
// they are rejected too.
func NormalizeMAC(s string) (string, error) {
	s = strings.TrimSpace(s)
	hex, ok := macHexDigits(s)
	if !ok {
		return "", Errorf(CodeInvalidMAC, "mac", "%q is not a MAC address; use 12 hex digits such as 00:15:65:AA:BB:CC", ClipN(s, 40))
	}
	switch {
	case hex == "000000000000":
		return "", Errorf(CodeInvalidMAC, "mac", "%s is the all-zero MAC address, not a device's", s)
	case hex == "ffffffffffff":
		return "", Errorf(CodeInvalidMAC, "mac", "%s is the broadcast MAC address, not a device's", s)
	case fromHex(hex[1])&1 == 1:
		return "", Errorf(CodeInvalidMAC, "mac", "%s is a multicast MAC address, not a device's", s)
	}
	return hex, nil
}

// macHexDigits extracts the 12 hex digits of s, lowercased, when s is in one
// of the accepted notations: groups of 2 joined by ':' or '-', groups of 4
// joined by '.', or no separator.
func macHexDigits(s string) (string, bool) {
	var group int
	var sep byte
	switch len(s) {
	case 12:
		group = 12
	case 17:
		group, sep = 2, s[2]
		if sep != ':' && sep != '-' {
			return "", false
		}
	case 14:
		group, sep = 4, '.'
	default:
		return "", false
	}
	var out [12]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if group != 12 && (i+1)%(group+1) == 0 {
			if c != sep {
				return "", false
			}
			continue
		}
		if fromHex(c) < 0 {
			return "", false
		}
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		out[n] = c
		n++
	}
	return string(out[:]), n == 12
}

// fromHex returns the value of hex digit c, or -1.
func fromHex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
