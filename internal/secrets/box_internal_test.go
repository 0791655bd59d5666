package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
)

// testSealer builds a Sealer around a random data key without KMS and
// primes box's cache with it, to test the AEAD layer on its own. The
// KMS-backed paths are tested against devstack's KMS in box_test.go.
func testSealer(t *testing.T, box *Box, tenant string) *Sealer {
	t.Helper()
	key := make([]byte, dataKeyBytes)
	blob := make([]byte, 48)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	aead, err := newAEAD(key)
	if err != nil {
		t.Fatal(err)
	}
	s := &Sealer{tenant: tenant, encryptedKey: blob, aead: aead}
	box.remember(cacheID(tenant, blob), aead)
	return s
}

func TestSealOpenBinding(t *testing.T) {
	ctx := context.Background()
	box := NewBox(nil, "unused") // every key is cached: a KMS call would panic
	acme := testSealer(t, box, "acme")
	sealed, err := acme.Seal([]byte("s3cret"), "100-acme#sip")
	if err != nil {
		t.Fatal(err)
	}
	got, err := box.Open(ctx, "acme", sealed, "100-acme#sip")
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("Open = %q, %v; want s3cret", got, err)
	}
	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	for name, tc := range map[string]struct {
		binding string
		v       Sealed
	}{
		"other endpoint":  {"101-acme#sip", sealed},
		"other purpose":   {"100-acme#pin", sealed},
		"empty binding":   {"", sealed},
		"tampered data":   {"100-acme#sip", Sealed{Key: sealed.Key, Nonce: sealed.Nonce, Data: flip(sealed.Data, 0)}},
		"tampered tag":    {"100-acme#sip", Sealed{Key: sealed.Key, Nonce: sealed.Nonce, Data: flip(sealed.Data, len(sealed.Data)-1)}},
		"tampered nonce":  {"100-acme#sip", Sealed{Key: sealed.Key, Nonce: flip(sealed.Nonce, 3), Data: sealed.Data}},
		"truncated nonce": {"100-acme#sip", Sealed{Key: sealed.Key, Nonce: sealed.Nonce[:8], Data: sealed.Data}},
		"empty":           {"100-acme#sip", Sealed{}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := box.Open(ctx, "acme", tc.v, tc.binding); !errors.Is(err, ErrCannotOpen) {
				t.Fatalf("Open = %v, want ErrCannotOpen", err)
			}
		})
	}
}

func TestAssociatedDataIsUnambiguous(t *testing.T) {
	// Without length prefixes "ab"+"c" and "a"+"bc" would collide.
	if bytes.Equal(associatedData("ab", "c"), associatedData("a", "bc")) {
		t.Fatal("associated data of different (tenant, binding) pairs collide")
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	box := NewBox(nil, "unused")
	s := testSealer(t, box, "acme")
	seen := map[string]bool{}
	for i := range 200 {
		v, err := s.Seal([]byte("same"), "100-acme#sip")
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(v.Nonce)] || seen[string(v.Data)] {
			t.Fatalf("seal %d repeated a nonce or ciphertext", i)
		}
		seen[string(v.Nonce)], seen[string(v.Data)] = true, true
		if !bytes.Equal(v.Key, s.encryptedKey) {
			t.Fatal("sealed value does not carry the sealer's encrypted data key")
		}
	}
	if _, err := s.Seal([]byte("x"), ""); err == nil {
		t.Fatal("Seal with an empty binding succeeded")
	}
}

func TestCacheIsBounded(t *testing.T) {
	box := NewBox(nil, "unused")
	box.max = 4
	var sealers []*Sealer
	for i := range 10 {
		sealers = append(sealers, testSealer(t, box, fmt.Sprintf("t%d", i)))
	}
	if n := len(box.entries); n != 4 || box.order.Len() != 4 {
		t.Fatalf("cache holds %d entries (list %d), want 4", n, box.order.Len())
	}
	// The most recent sealers are still cached; the oldest were evicted.
	for i, s := range sealers {
		_, cached := box.entries[cacheID(s.tenant, s.encryptedKey)]
		if cached != (i >= 6) {
			t.Errorf("sealer %d cached = %v", i, cached)
		}
	}
}
