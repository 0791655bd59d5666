package portal

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDevTokens(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	d, err := NewDevTokens(key, time.Hour, clock)
	if err != nil {
		t.Fatal(err)
	}
	tok, exp, err := d.Issue("acme")
	if err != nil || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("Issue = %v, %v", exp, err)
	}
	claims, err := d.Verify(tok)
	if err != nil || claims[TenantClaim] != "acme" || claims["iss"] != devIssuer || claims["exp"] != strconv.FormatInt(now.Add(time.Hour).Unix(), 10) {
		t.Fatalf("Verify = %v, %v", claims, err)
	}

	other, _ := NewDevTokens([]byte(strings.Repeat("x", 32)), time.Hour, clock)
	foreign, _, _ := other.Issue("acme")
	later, _ := NewDevTokens(key, time.Hour, func() time.Time { return now.Add(time.Hour) })
	enc := base64.RawURLEncoding
	parts := strings.Split(tok, ".")
	swapped := parts[0] + "." + enc.EncodeToString([]byte(`{"iss":"bulkprov-local","sub":"x","custom:tenant":"globex","iat":0,"exp":9999999999}`)) + "." + parts[2]
	none := enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	for name, bad := range map[string]string{
		"other key":        foreign,
		"tenant swapped":   swapped,
		"alg none":         none,
		"truncated":        tok[:len(tok)-2],
		"two parts":        parts[0] + "." + parts[1],
		"empty":            "",
		"garbage":          "not.a.token",
		"oversize":         strings.Repeat("a", 5000),
		"signature base64": parts[0] + "." + parts[1] + ".!!!",
	} {
		if c, err := d.Verify(bad); !errors.Is(err, ErrBadToken) || c != nil {
			t.Errorf("%s: Verify = %v, %v; want ErrBadToken", name, c, err)
		}
	}
	if _, err := later.Verify(tok); !errors.Is(err, ErrBadToken) {
		t.Errorf("expired token accepted: %v", err)
	}
	if _, _, err := d.Issue("../globex"); err == nil {
		t.Error("Issue accepted an invalid tenant name")
	}
	if _, err := NewDevTokens([]byte("short"), time.Hour, nil); err == nil {
		t.Error("NewDevTokens accepted a short key")
	}
}
