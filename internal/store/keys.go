// Package store is the only package that knows the DynamoDB single-table
// layout: partition and sort keys, attribute names and conditions. Other
// packages call its methods with domain types.
//
//	PK                SK                         item
//	SYSTEM            DEFAULTS                   system settings (JSON override of pbx.SystemDefaults)
//	TENANT#acme       SETTINGS                   tenant settings overrides and display name
//	TENANT#acme       EXT#100                    one user's PBX objects, one map attribute each: User, Ext,
//	                                             Mailbox, Endpoint (SIP user 100-acme), Contact (see extItem)
//	TENANT#acme       SECRET#100-acme            envelope-encrypted SIP secret, PIN, portal credential until sent;
//	                                             email ledger "welcome.Status" etc.: RESERVED, then SENT with MessageId
//	TENANT#acme       JOB#<job>                  job status, counts, options, keys
//	TENANT#acme       EMAILQUOTA#2026-12-06      welcome emails granted that UTC day (email.daily_quota), TTL'd
//	TENANT#acme       DIDPOLICY                  the operator's DID rules for the tenant (inventory.go)
//	TENANT#acme       BUDGET#<name>#<window>     per-tenant request budget counter, TTL'd (budget.go)
//	INVITE#<sha256>   INVITE                     global: one-time invite, expires through the TTL
//	DID#+14155550100  OWNER                      global: the tenant owning a DID and its inbound route (Extension)
//	MAC#001565a1b2c3  OWNER                      global: the endpoint owning a MAC
//	TENANT#acme       PROVKEY                    the tenant's sealed device key (phone credentials, devicecreds.go)
//	TENANT#acme       DEVCRED#001565a1b2c3       a device's credential generation, once rotated
//	PROVPATH#acme     OWNER                      global: the tenant whose provisioning folder this is
package store

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Attribute names shared by every item.
const (
	AttrPK  = "PK"
	AttrSK  = "SK"
	AttrTTL = "ExpiresAt" // epoch seconds; the table's TTL attribute
)

// Partition keys.
func SystemPK() string              { return "SYSTEM" }
func TenantPK(tenant string) string { return "TENANT#" + tenant }
func DIDOwnerPK(did string) string  { return didOwnerPrefix + did }
func MACOwnerPK(mac string) string  { return "MAC#" + mac }

// InvitePK is an invite item's key. Invite items are global (a portal
// resolves /invite/<token> without knowing the tenant) and expire through
// the table's TTL; they are apart from the USER item so that TTL can never
// delete a user.
func InvitePK(hash string) string { return "INVITE#" + hash }

// ProvisioningPathPK is the item claiming a provisioning folder for one
// tenant.
func ProvisioningPathPK(path string) string { return "PROVPATH#" + path }

// Sort keys.
const (
	SKInvite    = "INVITE" // an invite item
	SKDefaults  = "DEFAULTS"
	SKSettings  = "SETTINGS"
	SKOwner     = "OWNER"
	SKDeviceKey = "PROVKEY"   // the tenant's sealed device key
	SKDIDPolicy = "DIDPOLICY" // the operator's DID policy for the tenant
)

// DeviceCredSK is the sort key of a device's credential generation item.
func DeviceCredSK(mac string) string { return deviceCredPrefix + mac }

// EmailQuotaSK is the sort key of a tenant's quota item for day (UTC).
func EmailQuotaSK(day time.Time) string { return "EMAILQUOTA#" + day.UTC().Format(time.DateOnly) }

// budgetSK is the counter item of one budget window; it expires through
// the TTL.
func budgetSK(name string, start time.Time) string {
	return "BUDGET#" + name + "#" + strconv.FormatInt(start.Unix(), 10)
}

// ExtensionSK is the key of a user's EXT# aggregate: user, extension,
// mailbox, endpoint and directory contact in one item. The endpoint's SIP
// user name is <ext>-<tenant>, so it leads back to the same key
// (ExtensionOfSIPUser); the tenant's directory is a Query on "EXT#".
func ExtensionSK(ext string) string  { return extPrefix + ext }
func SecretSK(sipUser string) string { return "SECRET#" + sipUser }
func JobSK(job string) string        { return "JOB#" + job }

// Key prefixes that Queries and key parsing use.
const (
	extPrefix        = "EXT#"
	didOwnerPrefix   = "DID#"
	deviceCredPrefix = "DEVCRED#"
)

// Store reads and writes the table through the real DynamoDB client.
type Store struct {
	DB    *dynamodb.Client
	Table string

	queryPageLimit int32 // tests: items per Query page, to exercise paging; 0 is DynamoDB's 1 MB pages
}

// New returns a Store on table.
func New(db *dynamodb.Client, table string) *Store { return &Store{DB: db, Table: table} }
