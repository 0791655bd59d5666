package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

func TestProvisioningCredentialHash(t *testing.T) {
	pw := store.GenerateProvisioningCredential()
	if len(pw) < 26 || pw == store.GenerateProvisioningCredential() {
		t.Fatalf("generated credential %q is short or repeats", pw)
	}
	h := store.HashProvisioningCredential(pw)
	parts := strings.Split(h, "$")
	if len(parts) != 3 || parts[0] != "sha256" || len(parts[1]) != 32 {
		t.Fatalf("hash %q is not sha256$<salt>$<digest>", h)
	}
	// The documented recipe, as the CloudFront Function computes it.
	sum := sha256.Sum256([]byte(parts[1] + pw))
	if parts[2] != hex.EncodeToString(sum[:]) {
		t.Errorf("digest does not follow the documented format")
	}
	if h == store.HashProvisioningCredential(pw) {
		t.Error("two hashes of one password share a salt")
	}
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{"right", h, pw, true},
		{"wrong", h, pw + "x", false},
		{"empty password", h, "", false},
		{"unknown tenant", "", pw, false},
		{"malformed", "sha256$zz$" + parts[2], pw, false},
		{"other scheme", "md5$" + parts[1] + "$" + parts[2], pw, false},
		{"stand-in digest", "sha256$00000000000000000000000000000000$" + strings.Repeat("0", 64), "", false},
	}
	for _, tt := range tests {
		if got := store.ProvisioningCredentialMatches(tt.hash, tt.password); got != tt.want {
			t.Errorf("%s: matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestProvisioningCredentialItem(t *testing.T) {
	ctx := context.Background()
	stack, err := devstack.Start(ctx, devstack.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stack.Close() })
	s := store.New(stack.Clients.DynamoDB, stack.Table)

	if _, err := s.ProvisioningCredential(ctx, "acme"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Fatalf("before set: err = %v, want not_found", err)
	}
	first := store.GenerateProvisioningCredential()
	if err := s.SetProvisioningCredential(ctx, "acme", first); err != nil {
		t.Fatal(err)
	}
	h, err := s.ProvisioningCredential(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, first) || !store.ProvisioningCredentialMatches(h, first) {
		t.Fatalf("stored %q does not verify %q (or holds it in clear)", h, "first")
	}
	second := store.GenerateProvisioningCredential()
	if err := s.SetProvisioningCredential(ctx, "acme", second); err != nil {
		t.Fatal(err)
	}
	h, _ = s.ProvisioningCredential(ctx, "acme")
	if store.ProvisioningCredentialMatches(h, first) || !store.ProvisioningCredentialMatches(h, second) {
		t.Error("rotation did not replace the credential")
	}
	if _, err := s.ProvisioningCredential(ctx, "globex"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Errorf("other tenant: err = %v, want not_found", err)
	}
	for _, bad := range []struct{ tenant, pw string }{{"Acme", second}, {"acme", "short"}} {
		if err := s.SetProvisioningCredential(ctx, bad.tenant, bad.pw); pbx.ErrorCode(err) != pbx.EINVALID {
			t.Errorf("set(%q, %q): err = %v, want invalid", bad.tenant, bad.pw, err)
		}
	}
	if _, err := s.ProvisioningCredential(ctx, "../x"); pbx.ErrorCode(err) != pbx.EINVALID {
		t.Errorf("bad tenant name: err = %v", err)
	}
}
