package secrets

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestSIPSecret(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9]{24}$`)
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		s, err := SIPSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(s) {
			t.Fatalf("SIP secret %q is not 24 letters and digits", s)
		}
		if seen[s] {
			t.Fatalf("SIP secret repeated: %q", s)
		}
		seen[s] = true
		for _, r := range s {
			counts[r]++
		}
	}
	// 48,000 draws over 62 symbols: ~774 each. Modulo bias (256 % 62 = 8)
	// would give the first 8 symbols ~5/4 of the others' share.
	if len(counts) != 62 {
		t.Fatalf("used %d symbols, want 62", len(counts))
	}
	for r, n := range counts {
		if n < 620 || n > 930 {
			t.Errorf("symbol %q drawn %d times, want ~774", r, n)
		}
	}
}

func TestTrivialPIN(t *testing.T) {
	for _, tc := range []struct {
		pin, ext string
		trivial  bool
	}{
		{"000000", "100", true},
		{"7777", "", true},
		{"123456", "100", true},
		{"1234", "", true},
		{"654321", "100", true},
		{"7890", "", true}, // wraps
		{"3210", "", true},
		{"100100", "100", true},  // extension repeated
		{"1001", "100", true},    // extension repeated, cut
		{"4567", "4567", true},   // the extension
		{"250250", "250", true},  //
		{"274915", "100", false}, //
		{"1000", "100", false},   // starts with the extension, not repeated
		{"8264", "", false},
		{"112233", "100", false},
	} {
		if got := TrivialPIN(tc.pin, tc.ext); got != tc.trivial {
			t.Errorf("TrivialPIN(%q, %q) = %v, want %v", tc.pin, tc.ext, got, tc.trivial)
		}
	}
}

func TestPIN(t *testing.T) {
	for _, length := range []int{4, 6, 12} {
		re := regexp.MustCompile(fmt.Sprintf(`^[0-9]{%d}$`, length))
		for range 300 {
			pin, err := PIN(length, "100")
			if err != nil {
				t.Fatal(err)
			}
			if !re.MatchString(pin) || TrivialPIN(pin, "100") {
				t.Fatalf("PIN(%d) = %q: wrong length, not numeric or trivial", length, pin)
			}
		}
	}
	if _, err := PIN(3, "100"); err == nil {
		t.Fatal("PIN(3) succeeded")
	}
}

func TestPassword(t *testing.T) {
	for _, p := range []PasswordPolicy{
		{Length: 14, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireOther: true},
		{Length: 8, RequireDigit: true},
		{Length: 32},
	} {
		for range 200 {
			pw, err := Password(p)
			if err != nil {
				t.Fatal(err)
			}
			if len(pw) != p.Length {
				t.Fatalf("password %q has length %d, want %d", pw, len(pw), p.Length)
			}
			for _, class := range []struct {
				required bool
				set      string
			}{{p.RequireUpper, upper}, {p.RequireLower, lower}, {p.RequireDigit, digits}, {p.RequireOther, others}} {
				if class.required && !strings.ContainsAny(pw, class.set) {
					t.Fatalf("password %q misses a required class %q", pw, class.set)
				}
			}
			if !p.RequireOther && strings.ContainsAny(pw, others) {
				t.Fatalf("password %q has symbols the policy does not ask for", pw)
			}
		}
	}
	if _, err := Password(PasswordPolicy{Length: 4}); err == nil {
		t.Fatal("Password with length 4 succeeded")
	}
}

func TestInviteToken(t *testing.T) {
	token, hash, err := InviteToken()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		t.Fatalf("token %q is not 32 bytes of base64url: %v", token, err)
	}
	sum := sha256.Sum256([]byte(token))
	if hash != hex.EncodeToString(sum[:]) || InviteHash(token) != hash {
		t.Fatalf("hash %q is not the hex SHA-256 of the token", hash)
	}
}

func TestHashPassword(t *testing.T) {
	phc, err := HashPassword("Tr0ub4dor&3")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(phc) {
		t.Fatalf("PHC string %q has the wrong shape", phc)
	}
	again, _ := HashPassword("Tr0ub4dor&3")
	if again == phc {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		password string
		ok       bool
	}{{"Tr0ub4dor&3", true}, {"tr0ub4dor&3", false}, {"", false}} {
		ok, err := VerifyPassword(tc.password, phc)
		if err != nil || ok != tc.ok {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.password, ok, err, tc.ok)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=x$c2FsdA$aGFzaA"} {
		if _, err := VerifyPassword("x", bad); err == nil {
			t.Errorf("VerifyPassword accepted malformed %q", bad)
		}
	}
}
