package devstack_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestKMSDataKeyRoundTrip(t *testing.T) {
	ctx := context.Background()
	c := stack.Clients.KMS
	ec := map[string]string{"tenant": "acme", "endpoint": "100-acme"}
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(stack.KMSKeyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	if len(dk.Plaintext) != 32 || len(dk.CiphertextBlob) == 0 || aws.ToString(dk.KeyId) != stack.KMSKeyID {
		t.Fatalf("data key: %d plaintext bytes, %d blob bytes, key %q", len(dk.Plaintext), len(dk.CiphertextBlob), aws.ToString(dk.KeyId))
	}
	// The context is compared as a map: order does not matter.
	same := map[string]string{"endpoint": "100-acme", "tenant": "acme"}
	got, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: same})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Plaintext, dk.Plaintext) {
		t.Error("Decrypt returned another key")
	}

	wrong := []map[string]string{
		{"tenant": "other", "endpoint": "100-acme"},
		{"tenant": "acme"},
		nil,
		{"tenant": "acme", "endpoint": "100-acme", "extra": "x"},
	}
	for _, w := range wrong {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: w})
		var invalid *types.InvalidCiphertextException
		if !errors.As(err, &invalid) {
			t.Errorf("context %v: err = %v, want InvalidCiphertextException", w, err)
		}
	}
	tampered := append([]byte(nil), dk.CiphertextBlob...)
	tampered[len(tampered)-1] ^= 1
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: tampered, EncryptionContext: ec}); err == nil {
		t.Error("tampered blob decrypted")
	}
}

func TestKMSEncryptDescribeAndErrors(t *testing.T) {
	ctx := context.Background()
	c := stack.Clients.KMS
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/bulkprov"), Plaintext: []byte("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: aws.String(stack.KMSKeyID)})
	if err != nil || string(dec.Plaintext) != "s3cret" {
		t.Fatalf("Decrypt = %q, %v", dec.Plaintext, err)
	}
	d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(stack.KMSKeyID)})
	if err != nil {
		t.Fatal(err)
	}
	if m := d.KeyMetadata; aws.ToString(m.Arn) != stack.KMSKeyID || m.KeyState != types.KeyStateEnabled || !m.Enabled || m.CreationDate == nil {
		t.Errorf("metadata = %+v", m)
	}
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/nope")})
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("unknown key: err = %v, want NotFoundException", err)
	}
}
