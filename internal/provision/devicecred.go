package provision

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// Device credentials. Every phone authenticates with its own credential:
//
//	user     = its MAC, 12 lowercase hex digits
//	password = first 32 hex digits of HMAC-SHA256(key, "bulkprov-device-v1\n" + path + "\n" + mac + "\n" + generation)
//
// key is the tenant's device key (64 hex digits, used as the HMAC key as
// text), path the tenant's provisioning folder and generation the device's
// rotation count (0 until rotated). The CloudFront function computes the
// same with crypto.createHmac, reading the key and any generation from its
// KeyValueStore (infra/cloudfront/provisioning-auth.js). A credential read
// off one phone opens that phone's files and the tenant's bootstrap files
// (which carry no account data), nothing else.

// DevicePassword derives a device's password.
func DevicePassword(key, path, mac string, generation int) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("bulkprov-device-v1\n" + path + "\n" + mac + "\n" + strconv.Itoa(generation)))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// deviceFileRE is a device's own file: <mac>.cfg, <mac>-bulkprov.cfg,
// cfg<mac>.xml, <mac>.xml or <MAC>.xml; group 2 is the MAC.
var deviceFileRE = regexp.MustCompile(`^(cfg)?([0-9A-Fa-f]{12})(-bulkprov)?\.(cfg|xml)$`)

// bootstrapFileRE matches the bootstrap files (BootstrapNames): the same
// pattern as BOOTSTRAP in provisioning-auth.js.
var bootstrapFileRE = regexp.MustCompile(`^(y0{9}[0-9]{3}\.cfg|[0-9]{4}-3PCC\.xml|spa[0-9]{3}[A-Z]?\.cfg|snom[A-Z][0-9]{3}\.htm)$`)

// FileAllowed reports whether the device with MAC user may read file: its
// own files and the tenant's bootstrap files.
func FileAllowed(file, user string) bool {
	if bootstrapFileRE.MatchString(file) {
		return true
	}
	m := deviceFileRE.FindStringSubmatch(file)
	return m != nil && strings.ToLower(m[2]) == user && (m[1] == "" || m[4] == "xml") && (m[3] == "" || m[4] == "cfg")
}

// DeviceKeyStore is the part of *store.Store device credentials use.
type DeviceKeyStore interface {
	DeviceKey(ctx context.Context, tenant string) (secrets.Sealed, error)
	PutDeviceKeyIfAbsent(ctx context.Context, tenant string, key secrets.Sealed) (bool, error)
	DeviceGeneration(ctx context.Context, tenant, mac string) (int, error)
	RotateDeviceCredential(ctx context.Context, tenant, mac string) (int, error)
}

// KeyBox seals and opens the tenant key; *secrets.Box satisfies it.
type KeyBox interface {
	Sealer(ctx context.Context, tenant string) (*secrets.Sealer, error)
	Open(ctx context.Context, tenant string, v secrets.Sealed, binding string) ([]byte, error)
}

// DeviceCredentials derives, checks and rotates device credentials. The
// opened tenant keys are cached for CacheTTL (unknown tenants too, so that
// known and unknown tenants cost the same). Safe for concurrent use.
type DeviceCredentials struct {
	Store    DeviceKeyStore
	Box      KeyBox
	CacheTTL time.Duration // 0 means one minute

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key string // "" for a tenant without a key
	at  time.Time
}

// EnsureKey creates the tenant's device key if it has none and returns it.
func (d *DeviceCredentials) EnsureKey(ctx context.Context, tenant string) (string, error) {
	key, err := d.key(ctx, tenant, false)
	if err != nil || key != "" {
		return key, err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails (Go ≥ 1.24)
	fresh := hex.EncodeToString(raw)
	sealer, err := d.Box.Sealer(ctx, tenant)
	if err != nil {
		return "", fmt.Errorf("device key of %s: %w", tenant, err)
	}
	sealed, err := sealer.Seal([]byte(fresh), store.DeviceKeyBinding())
	if err != nil {
		return "", fmt.Errorf("device key of %s: %w", tenant, err)
	}
	if _, err := d.Store.PutDeviceKeyIfAbsent(ctx, tenant, sealed); err != nil {
		return "", err
	}
	d.forget(tenant)
	return d.key(ctx, tenant, false) // the stored key, whoever wrote it
}

// Credential returns a device's current user and password.
func (d *DeviceCredentials) Credential(ctx context.Context, tenant, path, mac string) (user, password string, err error) {
	key, err := d.EnsureKey(ctx, tenant)
	if err != nil {
		return "", "", err
	}
	gen, err := d.Store.DeviceGeneration(ctx, tenant, mac)
	if err != nil {
		return "", "", err
	}
	return mac, DevicePassword(key, path, mac, gen), nil
}

// Rotate gives one device a new password (the old one stops working) and
// returns it with the new generation.
func (d *DeviceCredentials) Rotate(ctx context.Context, tenant, path, mac string) (password string, generation int, err error) {
	key, err := d.EnsureKey(ctx, tenant)
	if err != nil {
		return "", 0, err
	}
	gen, err := d.Store.RotateDeviceCredential(ctx, tenant, mac)
	if err != nil {
		return "", 0, err
	}
	return DevicePassword(key, path, mac, gen), gen, nil
}

// Check reports whether user/password is the current credential of device
// user in the tenant whose folder is path (the local server requires the
// folder to be the tenant name). It does the same work for every input:
// one cached key lookup, one generation read (a decoy tenant and MAC when
// they are malformed), one HMAC and a constant-time compare.
func (d *DeviceCredentials) Check(ctx context.Context, path, user, password string) (bool, error) {
	tenant, mac, valid := path, user, true
	if pbx.ValidateTenantName(tenant) != nil {
		tenant, valid = "-", false
	}
	if !storeMACRE.MatchString(mac) {
		mac, valid = "000000000000", false
	}
	key := ""
	if valid {
		k, err := d.key(ctx, tenant, true)
		if err != nil {
			return false, err
		}
		key = k
	}
	gen := 0
	if valid {
		g, err := d.Store.DeviceGeneration(ctx, tenant, mac)
		if err != nil {
			return false, err
		}
		gen = g
	}
	want := DevicePassword(key, path, mac, gen)
	same := subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1
	return same && valid && key != "", nil
}

var storeMACRE = regexp.MustCompile(`^[0-9a-f]{12}$`)

// key returns the tenant's opened device key, "" when it has none.
func (d *DeviceCredentials) key(ctx context.Context, tenant string, cached bool) (string, error) {
	ttl := d.CacheTTL
	if ttl <= 0 {
		ttl = time.Minute
	}
	if cached {
		d.mu.Lock()
		c, ok := d.cache[tenant]
		d.mu.Unlock()
		if ok && time.Since(c.at) < ttl {
			return c.key, nil
		}
	}
	key := ""
	sealed, err := d.Store.DeviceKey(ctx, tenant)
	switch {
	case pbx.ErrorCode(err) == pbx.ENOTFOUND:
	case err != nil:
		return "", err
	default:
		plain, err := d.Box.Open(ctx, tenant, sealed, store.DeviceKeyBinding())
		if err != nil {
			return "", fmt.Errorf("open device key of %s: %w", tenant, err)
		}
		key = string(plain)
	}
	d.mu.Lock()
	if d.cache == nil {
		d.cache = map[string]cachedKey{}
	}
	d.cache[tenant] = cachedKey{key: key, at: time.Now()}
	d.mu.Unlock()
	return key, nil
}

func (d *DeviceCredentials) forget(tenant string) {
	d.mu.Lock()
	delete(d.cache, tenant)
	d.mu.Unlock()
}

// DeviceOfFile returns the MAC (lowercase) of a device file name, or ""
// for any other name.
func DeviceOfFile(name string) string {
	m := deviceFileRE.FindStringSubmatch(name)
	if m == nil || !FileAllowed(name, strings.ToLower(m[2])) || bootstrapFileRE.MatchString(name) {
		return ""
	}
	return strings.ToLower(m[2])
}

// KVSKeyValue is the CloudFront KeyValueStore value of a tenant's device
// key (key: the tenant's provisioning path).
func KVSKeyValue(key string) string { return "hmac1$" + key }
