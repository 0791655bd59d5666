// Package softswitch is bulkprov's read path for SIP servers: what a
// softswitch (Kamailio, or any proxy that can make an HTTP request per SIP
// request) needs to authenticate a phone's registration and calls (realm,
// SIP user, HA1 — never the clear secret), to route a call to an extension
// and to route a DID's inbound calls. DynamoDB stays the system of record:
// every answer is read from the table through the store API when asked, and
// the softswitch may cache it for a bounded time (KamailioConfig.CacheTTL).
//
// The HTTP contract is in README.md ("Wiring a softswitch"); Handler serves
// it locally and behind a Lambda function URL (functions/sip-lookup).
package softswitch

import (
	"context"
	"crypto/md5" // SIP digest (RFC 3261, RFC 2617) is defined over MD5
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// Directory is the part of *store.Store the lookups read.
type Directory interface {
	GetUser(ctx context.Context, tenant, ext string) (store.UserRecord, bool, error)
	DIDRoute(ctx context.Context, tenant, did string) (string, bool, error)
	DIDOwner(ctx context.Context, did string) (string, bool, error)
	GetCredentials(ctx context.Context, tenant string, sipUsers []string) (map[string]pbx.Credentials, error)
	LoadSettings(ctx context.Context, tenant string, extra ...[]byte) (pbx.Settings, error)
}

// Opener opens sealed values (*secrets.Box).
type Opener interface {
	Open(ctx context.Context, tenant string, v secrets.Sealed, binding string) ([]byte, error)
}

// ErrNotFound is every "no" of a lookup: unknown or deleted user, a realm
// that is not the user's tenant's, an extension or DID without a user. One
// error for all of them, so a caller learns nothing about which.
var ErrNotFound = errors.New("softswitch: not found")

// Resolver answers the lookups.
type Resolver struct {
	Dir     Directory
	Secrets Opener
	// Realms are platform-wide digest realms accepted for every tenant,
	// besides each tenant's own SIP domain (provisioning.registrar).
	Realms []string
}

// Credential is what a registrar needs to check a digest response.
type Credential struct {
	User      string `json:"user"`      // SIP user name, "100-acme"
	Realm     string `json:"realm"`     // as asked, when accepted
	Tenant    string `json:"tenant"`    //
	Extension string `json:"extension"` //
	HA1       string `json:"ha1"`       // hex MD5(user:realm:secret)
	HA1B      string `json:"ha1b"`      // hex MD5(user@realm:realm:secret), for UAs that send user@domain
}

// Target is where a call to an extension or DID goes.
type Target struct {
	DID       string `json:"did,omitempty"`
	Tenant    string `json:"tenant"`
	Extension string `json:"extension"`
	SIPUser   string `json:"sip_user"` // the AOR's user part the phone registered
}

var (
	extensionRE = regexp.MustCompile(`^[0-9]{1,16}$`)
	didRE       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	realmRE     = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]{1,253}$`)
)

// splitSIPUser splits "100-acme" (pbx.SIPUserName) into extension and
// tenant; ok is false for anything else.
func splitSIPUser(user string) (ext, tenant string, ok bool) {
	i := strings.LastIndexByte(user, '-')
	if i <= 0 {
		return "", "", false
	}
	ext, tenant = user[:i], user[i+1:]
	if !extensionRE.MatchString(ext) || pbx.ValidateTenantName(tenant) != nil {
		return "", "", false
	}
	return ext, tenant, true
}

// Auth returns the credential of SIP user user in realm. The realm must be
// the user's tenant's SIP domain or a platform realm; the secret is opened
// from its SECRET item, hashed and dropped.
func (r *Resolver) Auth(ctx context.Context, user, realm string) (Credential, error) {
	ext, tenant, ok := splitSIPUser(user)
	if !ok || !realmRE.MatchString(realm) {
		return Credential{}, ErrNotFound
	}
	u, found, err := r.Dir.GetUser(ctx, tenant, ext)
	if pbx.ErrorCode(err) == pbx.EINVALID { // not an extension this PBX allows
		return Credential{}, ErrNotFound
	}
	if err != nil {
		return Credential{}, fmt.Errorf("read user %s: %w", user, err)
	}
	if !found || (u.SIPUser != "" && u.SIPUser != user) {
		return Credential{}, ErrNotFound
	}
	accepted, err := r.realmAccepted(ctx, tenant, realm)
	if err != nil {
		return Credential{}, err
	}
	if !accepted {
		return Credential{}, ErrNotFound
	}
	creds, err := r.Dir.GetCredentials(ctx, tenant, []string{user})
	if err != nil {
		return Credential{}, fmt.Errorf("read credentials of %s: %w", user, err)
	}
	c, found := creds[user]
	if !found || c.SIPSecret.IsZero() {
		return Credential{}, ErrNotFound
	}
	secret, err := r.Secrets.Open(ctx, tenant, c.SIPSecret, pbx.SIPSecretBinding(user))
	if err != nil {
		return Credential{}, fmt.Errorf("open SIP secret of %s: %w", user, err)
	}
	defer clear(secret)
	return Credential{
		User: user, Realm: realm, Tenant: tenant, Extension: ext,
		HA1:  digestHA1(user, realm, secret),
		HA1B: digestHA1(user+"@"+realm, realm, secret),
	}, nil
}

// realmAccepted: the tenant's SIP domain (the registrar its phone files
// name) or a platform realm, compared case-insensitively like host names.
func (r *Resolver) realmAccepted(ctx context.Context, tenant, realm string) (bool, error) {
	for _, p := range r.Realms {
		if strings.EqualFold(p, realm) {
			return true, nil
		}
	}
	s, err := r.Dir.LoadSettings(ctx, tenant)
	if pbx.ErrorCode(err) == pbx.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read settings of tenant %s: %w", tenant, err)
	}
	reg := s.Provisioning.Registrar
	return reg != "" && strings.EqualFold(reg, realm), nil
}

// digestHA1 is RFC 2617's H(A1) for the MD5 algorithm.
func digestHA1(user, realm string, secret []byte) string {
	h := md5.New()
	h.Write([]byte(user + ":" + realm + ":"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))
}

// Extension returns the SIP user a call to tenant's extension ext rings.
func (r *Resolver) Extension(ctx context.Context, tenant, ext string) (Target, error) {
	if pbx.ValidateTenantName(tenant) != nil || !extensionRE.MatchString(ext) {
		return Target{}, ErrNotFound
	}
	return r.user(ctx, tenant, ext)
}

func (r *Resolver) user(ctx context.Context, tenant, ext string) (Target, error) {
	u, found, err := r.Dir.GetUser(ctx, tenant, ext)
	if pbx.ErrorCode(err) == pbx.EINVALID {
		return Target{}, ErrNotFound
	}
	if err != nil {
		return Target{}, fmt.Errorf("read user %s/%s: %w", tenant, ext, err)
	}
	if !found {
		return Target{}, ErrNotFound
	}
	sip := u.SIPUser
	if sip == "" {
		sip = pbx.SIPUserName(ext, tenant)
	}
	return Target{Tenant: tenant, Extension: ext, SIPUser: sip}, nil
}

// DID returns where an inbound call to did (E.164) goes: the extension of
// the owning tenant's inbound route.
func (r *Resolver) DID(ctx context.Context, did string) (Target, error) {
	if !didRE.MatchString(did) {
		return Target{}, ErrNotFound
	}
	tenant, found, err := r.Dir.DIDOwner(ctx, did)
	if err != nil {
		return Target{}, fmt.Errorf("read owner of DID %s: %w", did, err)
	}
	if !found {
		return Target{}, ErrNotFound
	}
	ext, found, err := r.Dir.DIDRoute(ctx, tenant, did)
	if err != nil {
		return Target{}, fmt.Errorf("read route of DID %s: %w", did, err)
	}
	if !found {
		return Target{}, ErrNotFound
	}
	t, err := r.user(ctx, tenant, ext)
	if err != nil {
		return Target{}, err
	}
	t.DID = did
	return t, nil
}
