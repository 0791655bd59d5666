package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Character classes for generated credentials.
const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower  = "abcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
	// others avoids quotes, backslash, '<', '>' and '&' so a password is
	// safe to read in any email client and to type into any form.
	others = "!#$%*+-=?@^_~"
)

// SIPSecretLength is the length of generated SIP secrets: 24 characters of
// 62 symbols ≈ 143 bits.
const SIPSecretLength = 24

// SIPSecret returns a random SIP secret of SIPSecretLength letters and digits.
func SIPSecret() (string, error) {
	return randomString(upper+lower+digits, SIPSecretLength)
}

// PasswordPolicy is the part of the tenant's password policy generation
// needs (pbx.PasswordPolicy converts to it).
type PasswordPolicy struct {
	Length                                                 int
	RequireUpper, RequireLower, RequireDigit, RequireOther bool
}

// Password returns a random temporary password that satisfies p: every
// required class present. It draws uniformly from letters and digits (and
// the symbols when required) and rejects draws that miss a class, so the
// result is uniform over the valid passwords.
func Password(p PasswordPolicy) (string, error) {
	if p.Length < 8 || p.Length > 128 {
		return "", fmt.Errorf("secrets: password length %d outside 8-128", p.Length)
	}
	alphabet := upper + lower + digits
	if p.RequireOther {
		alphabet += others
	}
	for {
		pw, err := randomString(alphabet, p.Length)
		if err != nil {
			return "", err
		}
		if (!p.RequireUpper || strings.ContainsAny(pw, upper)) &&
			(!p.RequireLower || strings.ContainsAny(pw, lower)) &&
			(!p.RequireDigit || strings.ContainsAny(pw, digits)) &&
			(!p.RequireOther || strings.ContainsAny(pw, others)) {
			return pw, nil
		}
	}
}

// PIN returns a random numeric voicemail PIN of length digits that is not
// trivial for extension (see TrivialPIN).
func PIN(length int, extension string) (string, error) {
	if length < 4 || length > 12 {
		return "", fmt.Errorf("secrets: PIN length %d outside 4-12", length)
	}
	for {
		pin, err := randomString(digits, length)
		if err != nil {
			return "", err
		}
		if !TrivialPIN(pin, extension) {
			return pin, nil
		}
	}
}

// TrivialPIN reports whether pin is guessable: one repeated digit, an
// ascending or descending run (1234, 654321, 7890), the extension, or the
// extension repeated (100100) or contained in the PIN at its start.
func TrivialPIN(pin, extension string) bool {
	if len(pin) < 2 {
		return true
	}
	same, up, down := true, true, true
	for i := 1; i < len(pin); i++ {
		prev, cur := int(pin[i-1]-'0'), int(pin[i]-'0')
		same = same && cur == prev
		up = up && cur == (prev+1)%10
		down = down && cur == (prev+9)%10
	}
	if same || up || down {
		return true
	}
	if extension != "" && strings.HasPrefix(strings.Repeat(extension, len(pin)/len(extension)+1), pin) {
		return true
	}
	return false
}

// InviteToken returns a one-time portal invite token (32 random bytes,
// base64url without padding) and its hash, the only form that is stored.
func InviteToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("secrets: invite token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, InviteHash(token), nil
}

// InviteHash is the stored form of an invite token: hex SHA-256. A plain
// hash suffices: the token has 256 bits of entropy.
func InviteHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Argon2id parameters: OWASP's minimum recommendation (m=19 MiB, t=2, p=1).
const (
	argonMemoryKiB = 19456
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// HashPassword returns the Argon2id hash of password as a PHC string:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded standard base64).
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("secrets: password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC string phc made
// by HashPassword (any Argon2id parameters).
func VerifyPassword(password, phc string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errors.New("secrets: not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return false, fmt.Errorf("secrets: unsupported argon2 version %q", parts[2])
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("secrets: argon2id parameters %q: %w", parts[3], err)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("secrets: argon2id salt: %w", err)
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, fmt.Errorf("secrets: argon2id hash: %v", err)
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// randomString draws n symbols uniformly from alphabet (≤ 256 symbols) with
// crypto/rand, rejecting bytes above the largest multiple of the alphabet's
// size so that there is no modulo bias.
func randomString(alphabet string, n int) (string, error) {
	size := len(alphabet)
	limit := 256 - 256%size
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/2+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("secrets: random: %w", err)
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%size])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}
