package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/pbx"
)

const attrCredentialHash = "CredentialHash"

// Provisioning credential hash format, simple enough for a CloudFront
// Function (JavaScript, crypto.createHash) to check:
//
//	sha256$<salt>$<digest>
//	salt   = 32 lowercase hex characters (16 random bytes), used as text
//	digest = lowercase hex of SHA-256(UTF-8 bytes of salt + password)
//
// In JavaScript: crypto.createHash('sha256').update(salt + password).digest('hex').
//
// A fast salted hash is the right choice here, unlike for people's
// passwords: the credential is a machine-generated 128-bit random string
// (GenerateProvisioningCredential), so it cannot be guessed from a
// dictionary however fast the hash, and it is checked on every phone boot
// and config poll, at the edge, where a memory-hard KDF would cost latency
// and CPU on each request without adding security.
const provisioningHashScheme = "sha256"

// GenerateProvisioningCredential returns a new random credential: 26
// base32 characters (128 bits), safe to type into a phone's web UI.
func GenerateProvisioningCredential() string { return rand.Text() }

// HashProvisioningCredential returns the stored form of password with a
// fresh random salt.
func HashProvisioningCredential(password string) string {
	var salt [16]byte
	_, _ = rand.Read(salt[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	s := hex.EncodeToString(salt[:])
	return provisioningHashScheme + "$" + s + "$" + provisioningDigest(s, password)
}

func provisioningDigest(salt, password string) string {
	sum := sha256.Sum256([]byte(salt + password))
	return hex.EncodeToString(sum[:])
}

// unknownTenantHash stands in for a tenant that has no credential, so that
// checking a password costs the same whether or not the tenant exists. No
// password matches it: its digest is not a SHA-256 output anyone knows a
// preimage of.
const unknownTenantHash = "sha256$00000000000000000000000000000000$" +
	"0000000000000000000000000000000000000000000000000000000000000000"

// ProvisioningCredentialMatches reports whether password matches hash. It
// always hashes and compares in constant time, also for an empty or
// malformed hash (pass "" for an unknown tenant), which never matches.
func ProvisioningCredentialMatches(hash, password string) bool {
	valid := true
	parts := strings.Split(hash, "$")
	if len(parts) != 3 || parts[0] != provisioningHashScheme || len(parts[1]) != 32 || len(parts[2]) != 64 {
		parts, valid = strings.Split(unknownTenantHash, "$"), false
	}
	got := provisioningDigest(parts[1], password)
	same := subtle.ConstantTimeCompare([]byte(got), []byte(parts[2])) == 1
	return same && valid
}

// SetProvisioningCredential stores the hash of a tenant's provisioning
// credential, replacing any previous one.
func (s *Store) SetProvisioningCredential(ctx context.Context, tenant, password string) error {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return err
	}
	if len(password) < 16 {
		return pbx.Errorf(pbx.EINVALID, "provisioning credential", "must be at least 16 characters; use GenerateProvisioningCredential")
	}
	_, err := s.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table),
		Item: map[string]types.AttributeValue{
			AttrPK:             &types.AttributeValueMemberS{Value: TenantPK(tenant)},
			AttrSK:             &types.AttributeValueMemberS{Value: SKProvisioning},
			attrCredentialHash: &types.AttributeValueMemberS{Value: HashProvisioningCredential(password)},
		},
	})
	if err != nil {
		return fmt.Errorf("set provisioning credential of %s: %w", tenant, err)
	}
	return nil
}

// ProvisioningCredential returns the stored hash of a tenant's
// provisioning credential (see HashProvisioningCredential); a tenant
// without one is ENOTFOUND.
func (s *Store) ProvisioningCredential(ctx context.Context, tenant string) (string, error) {
	if err := pbx.ValidateTenantName(tenant); err != nil {
		return "", err
	}
	out, err := s.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(s.Table),
		Key:                  itemKey(TenantPK(tenant), SKProvisioning),
		ProjectionExpression: aws.String(attrCredentialHash),
	})
	if err != nil {
		return "", fmt.Errorf("get provisioning credential of %s: %w", tenant, err)
	}
	hash := stringAttr(out.Item, attrCredentialHash)
	if hash == "" {
		return "", pbx.Errorf(pbx.ENOTFOUND, "tenant", "tenant %q has no provisioning credential", tenant)
	}
	return hash, nil
}
