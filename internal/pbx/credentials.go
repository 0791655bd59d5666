package pbx

import "github.com/bulkprov/bulkprov/internal/secrets"

// Bindings of an endpoint's sealed values (secrets.Sealer.Seal's binding
// argument): the endpoint's SIP user and the value's purpose, so that a
// value sealed for one endpoint or purpose cannot be opened as another.
func SIPSecretBinding(sipUser string) string { return sipUser + "#sip" }
func PINBinding(sipUser string) string       { return sipUser + "#pin" }
func PortalBinding(sipUser string) string    { return sipUser + "#portal" }

// Credentials are one endpoint's sealed secrets. Open each value with
// secrets.Box.Open(ctx, tenant, value, <Binding>(SIPUser)). The store
// keeps them apart from the user's PBX objects (a SECRET# item), read only
// by the phone-file and email steps.
type Credentials struct {
	SIPUser   string
	Extension string
	SIPSecret secrets.Sealed // binding: SIPSecretBinding(SIPUser)
	PIN       secrets.Sealed // voicemail PIN; binding: PINBinding(SIPUser)
	// Portal is the invite token or temporary password until the welcome
	// email is sent, then nil; binding: PortalBinding(SIPUser).
	Portal     *secrets.Sealed
	PortalKind WelcomeMode // invite | password (what Portal holds)
	// InviteExpires is the invite token's expiry (epoch seconds, from
	// User.InviteExpires), for the invite item the welcome email writes.
	// 0 when PortalKind is password.
	InviteExpires int64
}
