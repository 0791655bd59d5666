package portal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

// devIssuer marks tokens made by DevTokens; AWS tokens come from Cognito.
const devIssuer = "bulkprov-local"

// ErrBadToken is returned for every token DevTokens does not accept; the
// reason is not told to the caller.
var ErrBadToken = errors.New("portal: invalid or expired token")

// DevTokens issues and verifies the local portal's sign-in tokens: compact
// JWTs (HS256) with the same tenant claim Cognito puts in ID tokens, signed
// with a key that exists only in the running process. They stand in for
// Cognito on a developer's machine; nothing in AWS accepts them.
type DevTokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// NewDevTokens returns DevTokens signing with key (at least 32 bytes)
// whose tokens last ttl.
func NewDevTokens(key []byte, ttl time.Duration, now func() time.Time) (*DevTokens, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("portal: dev token key has %d bytes, want at least 32", len(key))
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("portal: dev token lifetime must be positive")
	}
	if now == nil {
		now = time.Now
	}
	return &DevTokens{key: append([]byte(nil), key...), ttl: ttl, now: now}, nil
}

type devClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Tenant   string `json:"custom:tenant"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

const devHeader = `{"alg":"HS256","typ":"JWT"}`

// Issue returns a token for tenant and when it expires.
func (d *DevTokens) Issue(tenant string) (string, time.Time, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return "", time.Time{}, err
	}
	now := d.now()
	exp := now.Add(d.ttl)
	payload, err := json.Marshal(devClaims{Issuer: devIssuer, Subject: "dev-" + tenant, Tenant: tenant, IssuedAt: now.Unix(), Expires: exp.Unix()})
	if err != nil {
		return "", time.Time{}, err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString([]byte(devHeader)) + "." + enc.EncodeToString(payload)
	return signing + "." + enc.EncodeToString(d.sign(signing)), exp, nil
}

// Verify checks token's signature, header, issuer and expiry and returns
// its claims as API Gateway's JWT authorizer passes them: strings.
func (d *DevTokens) Verify(token string) (map[string]string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(token) > 4096 {
		return nil, ErrBadToken
	}
	enc := base64.RawURLEncoding
	sig, err := enc.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, d.sign(parts[0]+"."+parts[1])) {
		return nil, ErrBadToken
	}
	// The signature is good, so the header is ours; check it anyway so that
	// a change of algorithm can never be smuggled in.
	if hdr, err := enc.DecodeString(parts[0]); err != nil || string(hdr) != devHeader {
		return nil, ErrBadToken
	}
	payload, err := enc.DecodeString(parts[1])
	if err != nil {
		return nil, ErrBadToken
	}
	var c devClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != devIssuer {
		return nil, ErrBadToken
	}
	if d.now().Unix() >= c.Expires {
		return nil, ErrBadToken
	}
	return map[string]string{
		"iss": c.Issuer, "sub": c.Subject, TenantClaim: c.Tenant,
		"iat": strconv.FormatInt(c.IssuedAt, 10), "exp": strconv.FormatInt(c.Expires, 10),
	}, nil
}

func (d *DevTokens) sign(s string) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
