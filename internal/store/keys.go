// Package store is the only package that knows the DynamoDB single-table
// layout: partition and sort keys, attribute names and conditions. Other
// packages call its methods with domain types.
//
//	PK                SK                         item
//	SYSTEM            DEFAULTS                   system settings (JSON override of pbx.SystemDefaults)
//	TENANT#acme       SETTINGS                   tenant settings overrides, display name, provisioning credential hash
//	TENANT#acme       USER#100 | EXT#100 | MAILBOX#100 | ENDPOINT#100-acme | CONTACT#100 | DID#+1415…
//	                                             (a DID# item holds the DID's inbound route: Extension)
//	TENANT#acme       SECRET#100-acme            envelope-encrypted SIP secret, PIN, portal credential until sent;
//	                                             email ledger "welcome.Status" etc.: RESERVED, then SENT with MessageId
//	TENANT#acme       JOB#<job>                  job status, counts, options, keys
//	TENANT#acme       PROVISIONING               hash of the tenant's phone (HTTP Basic) credential
//	TENANT#acme       DIDPOLICY                  the operator's DID rules for the tenant (inventory.go)
//	TENANT#acme       BUDGET#<name>#<window>     per-tenant request budget counter, TTL'd (budget.go)
//	INVITE#<sha256>   INVITE                     global: one-time invite, expires through the TTL
//	DID#+14155550100  OWNER                      global: the tenant owning a DID
//	MAC#001565a1b2c3  OWNER                      global: the endpoint owning a MAC
//	PROVPATH#acme     OWNER                      global: the tenant whose provisioning folder this is
package store

import (
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
func DIDOwnerPK(did string) string  { return "DID#" + did }
func MACOwnerPK(mac string) string  { return "MAC#" + mac }

// InvitePK is an invite item's key. Invite items are global (a portal
// resolves /invite/<token> without knowing the tenant) and expire through
// the table's TTL; they are apart from the USER item so that TTL can never
// delete a user.
func InvitePK(hash string) string { return "INVITE#" + hash }

// Sort keys.
const (
	SKInvite       = "INVITE"       // an invite item
	SKProvisioning = "PROVISIONING" // a tenant's provisioning credential item
	SKDefaults     = "DEFAULTS"
	SKSettings     = "SETTINGS"
	SKOwner        = "OWNER"
)

func UserSK(ext string) string         { return "USER#" + ext }
func ExtensionSK(ext string) string    { return "EXT#" + ext }
func MailboxSK(ext string) string      { return "MAILBOX#" + ext }
func EndpointSK(sipUser string) string { return "ENDPOINT#" + sipUser }
func ContactSK(ext string) string      { return "CONTACT#" + ext }
func DIDSK(did string) string          { return "DID#" + did }
func SecretSK(sipUser string) string   { return "SECRET#" + sipUser }
func JobSK(job string) string          { return "JOB#" + job }

// Store reads and writes the table through the real DynamoDB client.
type Store struct {
	DB    *dynamodb.Client
	Table string
}

// New returns a Store on table.
func New(db *dynamodb.Client, table string) *Store { return &Store{DB: db, Table: table} }
