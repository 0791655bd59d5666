package softswitch

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Token bounds: a generated token is 43 characters (32 random bytes,
// unpadded URL-safe base64).
const (
	minTokenLen = 32
	maxTokenLen = 128
)

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidToken reports whether t has a token's shape.
func ValidToken(t string) bool {
	return len(t) >= minTokenLen && len(t) <= maxTokenLen && tokenRE.MatchString(t)
}

// NewToken returns a random bearer token for the softswitch (256 bits).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("softswitch token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// TokenHash is what the API keeps of a token: hex SHA-256. A plain hash
// suffices for a 256-bit random token, and lets the hash sit in the
// function's configuration without being a secret.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenHashes are the accepted token hashes (two during a rotation).
type TokenHashes [][sha256.Size]byte

// ParseTokenHashes reads a comma-separated list of hex SHA-256 hashes
// (SIP_LOOKUP_TOKEN_SHA256). An empty list accepts no token.
func ParseTokenHashes(s string) (TokenHashes, error) {
	var out TokenHashes
	for h := range strings.SplitSeq(s, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("softswitch token hash %q is not 64 hex digits", pbx.ClipN(h, 80))
		}
		out = append(out, [sha256.Size]byte(b))
	}
	return out, nil
}

// Accepts reports whether the Authorization header value carries an
// accepted bearer token, comparing hashes in constant time.
func (hs TokenHashes) Accepts(authorization string) bool {
	token, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok || !ValidToken(token) {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	match := 0
	for _, h := range hs {
		match |= subtle.ConstantTimeCompare(sum[:], h[:])
	}
	return match == 1
}
