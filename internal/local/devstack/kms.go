package devstack

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// kmsServer is an in-process KMS endpoint (JSON 1.1, X-Amz-Target
// TrentService.<Op>) with one symmetric key. Ciphertext blobs are AES-GCM
// under the key's random master key, with the key id and the canonical
// encryption context as additional data, so a wrong context fails to
// decrypt as it does on KMS.
type kmsServer struct {
	key    kmsKey
	region func() string
}

const (
	kmsAccount   = "000000000000"
	kmsAlias     = "alias/bulkprov"
	blobVersion  = 1
	maxPlaintext = 4096
)

// kmsKey is the persisted key (StateDir/kms.key).
type kmsKey struct {
	ID       string    `json:"keyId"`
	Material []byte    `json:"material"` // 32 bytes; base64 in the file
	Created  time.Time `json:"created"`
}

func newKMSServer(stateDir string, region func() string) (*kmsServer, error) {
	k, err := loadOrCreateKMSKey(stateDir)
	if err != nil {
		return nil, err
	}
	return &kmsServer{key: k, region: region}, nil
}

func loadOrCreateKMSKey(stateDir string) (kmsKey, error) {
	path := filepath.Join(stateDir, "kms.key")
	if stateDir != "" {
		b, err := os.ReadFile(path)
		if err == nil {
			var k kmsKey
			if err := json.Unmarshal(b, &k); err != nil || len(k.Material) != 32 || k.ID == "" {
				return kmsKey{}, fmt.Errorf("devstack: KMS key file %s is damaged (remove it to start over, losing what it encrypted): %v", path, err)
			}
			return k, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return kmsKey{}, fmt.Errorf("devstack: read KMS key: %w", err)
		}
	}
	var id [16]byte
	k := kmsKey{Material: make([]byte, 32), Created: time.Now().UTC().Truncate(time.Second)}
	if _, err := rand.Read(k.Material); err != nil {
		return kmsKey{}, fmt.Errorf("devstack: KMS key: %w", err)
	}
	_, _ = rand.Read(id[:])
	h := hex.EncodeToString(id[:])
	k.ID = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	if stateDir != "" {
		b, _ := json.Marshal(k)
		if err := writeFileAtomic(path, b); err != nil {
			return kmsKey{}, fmt.Errorf("devstack: save KMS key: %w", err)
		}
	}
	return k, nil
}

func (k *kmsServer) keyARN() string {
	return "arn:aws:kms:" + k.region() + ":" + kmsAccount + ":key/" + k.key.ID
}

// resolve accepts the forms KMS accepts for this key: id, ARN, alias, alias ARN.
func (k *kmsServer) resolve(keyID string) *kmsError {
	aliasARN := "arn:aws:kms:" + k.region() + ":" + kmsAccount + ":" + kmsAlias
	switch keyID {
	case k.key.ID, k.keyARN(), kmsAlias, aliasARN:
		return nil
	case "":
		return &kmsError{"ValidationException", "KeyId is required"}
	}
	return &kmsError{"NotFoundException", "Key '" + keyID + "' does not exist"}
}

type kmsError struct{ typ, msg string }

func (k *kmsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	out, kerr := k.route(r)
	if kerr != nil {
		status := http.StatusBadRequest
		if kerr.typ == "MissingAuthenticationTokenException" {
			status = http.StatusForbidden
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": kerr.typ, "message": kerr.msg})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

type kmsRequest struct {
	KeyID             string            `json:"KeyId"`
	KeySpec           string            `json:"KeySpec"`
	NumberOfBytes     *int              `json:"NumberOfBytes"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
	Plaintext         []byte            `json:"Plaintext"`
	CiphertextBlob    []byte            `json:"CiphertextBlob"`
}

func (k *kmsServer) route(r *http.Request) (any, *kmsError) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		return nil, &kmsError{"MissingAuthenticationTokenException", "Request is missing Authentication Token"}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "TrentService.")
	if r.Method != http.MethodPost || !ok {
		return nil, &kmsError{"UnknownOperationException", "expected POST with X-Amz-Target: TrentService.<Operation>"}
	}
	var in kmsRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
		return nil, &kmsError{"SerializationException", "invalid request body: " + err.Error()}
	}
	switch op {
	case "GenerateDataKey", "GenerateDataKeyWithoutPlaintext":
		return k.generateDataKey(&in, op == "GenerateDataKey")
	case "Encrypt":
		return k.encrypt(&in)
	case "Decrypt":
		return k.decrypt(&in)
	case "DescribeKey":
		return k.describeKey(&in)
	}
	return nil, &kmsError{"UnknownOperationException", "devstack KMS does not implement " + op}
}

func (k *kmsServer) generateDataKey(in *kmsRequest, withPlaintext bool) (any, *kmsError) {
	if err := k.resolve(in.KeyID); err != nil {
		return nil, err
	}
	var n int
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, &kmsError{"ValidationException", "specify either KeySpec or NumberOfBytes, not both"}
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, &kmsError{"ValidationException", "KeySpec must be AES_256 or AES_128"}
	case in.NumberOfBytes != nil && *in.NumberOfBytes >= 1 && *in.NumberOfBytes <= 1024:
		n = *in.NumberOfBytes
	default:
		return nil, &kmsError{"ValidationException", "KeySpec or NumberOfBytes (1-1024) is required"}
	}
	plain := make([]byte, n)
	if _, err := rand.Read(plain); err != nil {
		return nil, &kmsError{"KMSInternalException", err.Error()}
	}
	blob, err := k.seal(plain, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"CiphertextBlob": blob, "KeyId": k.keyARN()}
	if withPlaintext {
		out["Plaintext"] = plain
	}
	return out, nil
}

func (k *kmsServer) encrypt(in *kmsRequest) (any, *kmsError) {
	if err := k.resolve(in.KeyID); err != nil {
		return nil, err
	}
	if len(in.Plaintext) == 0 || len(in.Plaintext) > maxPlaintext {
		return nil, &kmsError{"ValidationException", "Plaintext must be 1 to 4096 bytes"}
	}
	blob, err := k.seal(in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": blob, "KeyId": k.keyARN(), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (k *kmsServer) decrypt(in *kmsRequest) (any, *kmsError) {
	if in.KeyID != "" {
		if err := k.resolve(in.KeyID); err != nil {
			return nil, &kmsError{"IncorrectKeyException", "the ciphertext was not encrypted under " + in.KeyID}
		}
	}
	plain, err := k.open(in.CiphertextBlob, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return map[string]any{"Plaintext": plain, "KeyId": k.keyARN(), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func (k *kmsServer) describeKey(in *kmsRequest) (any, *kmsError) {
	if err := k.resolve(in.KeyID); err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": map[string]any{
		"AWSAccountId":          kmsAccount,
		"KeyId":                 k.key.ID,
		"Arn":                   k.keyARN(),
		"CreationDate":          float64(k.key.Created.Unix()),
		"Enabled":               true,
		"Description":           "bulkprov devstack local key",
		"KeyUsage":              "ENCRYPT_DECRYPT",
		"KeyState":              "Enabled",
		"Origin":                "AWS_KMS",
		"KeyManager":            "CUSTOMER",
		"KeySpec":               "SYMMETRIC_DEFAULT",
		"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
		"EncryptionAlgorithms":  []string{"SYMMETRIC_DEFAULT"},
		"MultiRegion":           false,
	}}, nil
}

// canonicalContext encodes an encryption context with sorted keys, so that
// equal maps give equal bytes.
func canonicalContext(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for key := range ec {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	pairs := make([][2]string, 0, len(keys))
	for _, key := range keys {
		pairs = append(pairs, [2]string{key, ec[key]})
	}
	b, _ := json.Marshal(pairs)
	return b
}

func (k *kmsServer) aead() cipher.AEAD {
	block, _ := aes.NewCipher(k.key.Material) // 32 bytes, checked on load
	gcm, _ := cipher.NewGCM(block)
	return gcm
}

// Blob layout: version byte | key id (36 bytes) | nonce | sealed data.
func (k *kmsServer) seal(plain []byte, ec map[string]string) ([]byte, *kmsError) {
	gcm := k.aead()
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, &kmsError{"KMSInternalException", err.Error()}
	}
	head := append([]byte{blobVersion}, k.key.ID...)
	aad := append(append([]byte(nil), head...), canonicalContext(ec)...)
	out := append(head, nonce...)
	return gcm.Seal(out, nonce, plain, aad), nil
}

func (k *kmsServer) open(blob []byte, ec map[string]string) ([]byte, *kmsError) {
	gcm := k.aead()
	invalid := &kmsError{"InvalidCiphertextException", "the ciphertext is invalid or its encryption context does not match"}
	headLen := 1 + len(k.key.ID)
	if len(blob) < headLen+gcm.NonceSize()+gcm.Overhead() || blob[0] != blobVersion {
		return nil, invalid
	}
	if !bytes.Equal(blob[1:headLen], []byte(k.key.ID)) {
		return nil, &kmsError{"IncorrectKeyException", "the ciphertext was encrypted under another key"}
	}
	nonce := blob[headLen : headLen+gcm.NonceSize()]
	aad := append(append([]byte(nil), blob[:headLen]...), canonicalContext(ec)...)
	plain, err := gcm.Open(nil, nonce, blob[headLen+gcm.NonceSize():], aad)
	if err != nil {
		return nil, invalid
	}
	return plain, nil
}
