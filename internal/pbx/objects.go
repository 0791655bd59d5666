package pbx

import (
	"encoding/json"
	"time"
)

// UserRow is one validated CSV data row, normalized: phone numbers in E.164,
// the MAC as 12 lowercase hex digits. It is what ingest writes to rows.jsonl
// and what the workflow hands the steps; it never carries a secret.
type UserRow struct {
	Line       int    `json:"line"` // physical line of the row's first byte in the upload
	Extension  string `json:"extension"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Email      string `json:"email,omitempty"`
	Mobile     string `json:"mobile,omitempty"` // E.164
	DID        string `json:"did,omitempty"`    // E.164
	MAC        string `json:"mac,omitempty"`    // 12 lowercase hex digits; empty when ignored
	CallerID   string `json:"caller_id,omitempty"`
	PhoneModel string `json:"phone_model,omitempty"`
	Department string `json:"department,omitempty"`
	// Exists is set by ingest when the extension already exists and the
	// upload's on-existing is update, so the records step updates in place.
	Exists bool `json:"exists,omitempty"`
	// Imported holds the SIP secret and PIN of another PBX's export when
	// the upload imports them, sealed by ingest (ciphertext only).
	Imported *ImportedCredentials `json:"imported,omitempty"`
}

// ImportedCredentials are a migrated user's own SIP secret and voicemail
// PIN, each a sealed value (secrets.Sealed as JSON) bound to the user's
// endpoint exactly like generated ones; absent ones are generated.
type ImportedCredentials struct {
	SIPSecret json.RawMessage `json:"sip_secret,omitempty"`
	PIN       json.RawMessage `json:"pin,omitempty"`
}

// DisplayName is the user's full name as the PBX shows it.
func (r UserRow) DisplayName() string {
	switch {
	case r.FirstName == "":
		return r.LastName
	case r.LastName == "":
		return r.FirstName
	default:
		return r.FirstName + " " + r.LastName
	}
}

// User is a portal user ("acme-100").
type User struct {
	Tenant      string      `json:"tenant"`
	Name        string      `json:"name"` // PortalUserName
	Extension   string      `json:"extension"`
	FirstName   string      `json:"first_name,omitempty"`
	LastName    string      `json:"last_name,omitempty"`
	Email       string      `json:"email,omitempty"`
	Department  string      `json:"department,omitempty"`
	WelcomeMode WelcomeMode `json:"welcome_mode"`
	// PasswordHash is an Argon2id PHC string when WelcomeMode is password;
	// MustChangePassword is then true. InviteHash is the SHA-256 of the
	// one-time invite token; InviteExpires bounds it (and its TTL).
	PasswordHash       string    `json:"password_hash,omitempty"`
	MustChangePassword bool      `json:"must_change_password,omitempty"`
	InviteHash         string    `json:"invite_hash,omitempty"`
	InviteExpires      time.Time `json:"invite_expires,omitzero"`
}

// Extension is a user extension with the script that handles calls to it.
type Extension struct {
	Tenant     string `json:"tenant"`
	Number     string `json:"number"`
	User       string `json:"user"`
	CallScript string `json:"call_script"`
	Endpoint   string `json:"endpoint"`
	Mailbox    string `json:"mailbox"`
}

// Mailbox is the extension's voicemail box.
type Mailbox struct {
	Tenant string `json:"tenant"`
	Number string `json:"number"`
	Owner  string `json:"owner"` // display name
	Email  string `json:"email,omitempty"`
	Pager  string `json:"pager,omitempty"` // mobile, E.164
	// PINHash is unused: a 4-12 digit PIN's hash can be brute-forced offline
	// whatever the hash, so the PIN is kept only envelope-encrypted (KMS).
	PINHash string `json:"pin_hash,omitempty"`
}

// Endpoint is a phone configuration (SIP account).
type Endpoint struct {
	Tenant       string  `json:"tenant"`
	SIPUser      string  `json:"sip_user"` // SIPUserName, also the auth name
	Extension    string  `json:"extension"`
	CallerIDName string  `json:"caller_id_name"`
	CallerIDNum  string  `json:"caller_id_number"`
	Mailbox      string  `json:"mailbox"`
	Device       *Device `json:"device,omitempty"`
}

// Device is a desk phone bound to an endpoint.
type Device struct {
	MAC   string `json:"mac"` // 12 lowercase hex digits
	Model string `json:"model"`
}

// DirectoryContact is the user's Company Directory entry.
type DirectoryContact struct {
	Tenant     string `json:"tenant"`
	Extension  string `json:"extension"`
	FirstName  string `json:"first_name,omitempty"`
	LastName   string `json:"last_name,omitempty"`
	Email      string `json:"email,omitempty"`
	Department string `json:"department,omitempty"`
}

// DID is a direct inward dialing number owned by one tenant.
type DID struct {
	Number string `json:"number"` // E.164
	Tenant string `json:"tenant"`
}

// InboundRoute routes a DID to an extension.
type InboundRoute struct {
	Tenant    string `json:"tenant"`
	DID       string `json:"did"`
	Extension string `json:"extension"`
}
