package pbx

import (
	"regexp"
	"strings"
)

// RowObjects are the PBX objects one upload row becomes (see the seed:
// user, user extension, mailbox, endpoint, directory contact and, with a
// DID, the DID assignment and its inbound route). Secrets are not part of
// them: they are generated and sealed by the records step.
type RowObjects struct {
	User     User
	Ext      Extension
	Mailbox  Mailbox
	Endpoint Endpoint
	Contact  DirectoryContact
	DID      *DID          // nil without a DID
	Route    *InboundRoute // nil without a DID
	// Warnings are row-level notices for the report (e.g. an ignored MAC).
	Warnings []string
}

// callerIDRE matches a caller_id cell of the form `Name <number>`.
var callerIDRE = regexp.MustCompile(`^\s*(.*?)\s*<\s*([^<>]+?)\s*>\s*$`)

// Build applies a row's values over the effective settings s (system
// defaults ← tenant settings ← upload options, already merged by
// pbx.Merge / store.LoadSettings) and returns the row's objects, validated.
//
// Caller ID: display name + extension; the DID instead of the extension
// when the upload's dids-as-caller-id is on and the row has a DID; a row's
// caller_id column overrides both (a number, or `Name <number>` to set the
// name too). A device (MAC + model: the row's phone_model, else the
// settings' default) is attached only when device provisioning is enabled
// and a model is known; otherwise the MAC is ignored with a warning.
func Build(tenant string, s Settings, row UserRow) (RowObjects, error) {
	if err := ValidateTenantName(tenant); err != nil {
		return RowObjects{}, err
	}
	if err := ValidateExtension(row.Extension); err != nil {
		return RowObjects{}, err
	}
	ext := row.Extension
	user := PortalUserName(tenant, ext)
	sipUser := SIPUserName(ext, tenant)
	name := row.DisplayName()
	if name == "" {
		name = ext
	}

	o := RowObjects{
		User: User{
			Tenant: tenant, Name: user, Extension: ext,
			FirstName: row.FirstName, LastName: row.LastName,
			Email: row.Email, Department: row.Department,
			WelcomeMode: s.Upload.Welcome,
		},
		Ext: Extension{
			Tenant: tenant, Number: ext, User: user, CallScript: s.CallScript,
			Endpoint: sipUser, Mailbox: ext,
		},
		Mailbox: Mailbox{Tenant: tenant, Number: ext, Owner: name, Email: row.Email, Pager: row.Mobile},
		Endpoint: Endpoint{
			Tenant: tenant, SIPUser: sipUser, Extension: ext,
			CallerIDName: name, CallerIDNum: ext, Mailbox: ext,
		},
		Contact: DirectoryContact{
			Tenant: tenant, Extension: ext, FirstName: row.FirstName, LastName: row.LastName,
			Email: row.Email, Department: row.Department,
		},
	}
	if row.DID != "" {
		o.DID = &DID{Number: row.DID, Tenant: tenant}
		o.Route = &InboundRoute{Tenant: tenant, DID: row.DID, Extension: ext}
		if s.Upload.DIDsAsCallerID {
			o.Endpoint.CallerIDNum = row.DID
		}
	}
	if cid := strings.TrimSpace(row.CallerID); cid != "" {
		if m := callerIDRE.FindStringSubmatch(cid); m != nil {
			if m[1] != "" {
				o.Endpoint.CallerIDName = strings.Trim(m[1], `"`)
			}
			o.Endpoint.CallerIDNum = m[2]
		} else {
			o.Endpoint.CallerIDNum = cid
		}
	}
	if row.MAC != "" {
		model := row.PhoneModel
		if model == "" {
			model = s.Provisioning.DefaultPhoneModel
		}
		switch {
		case !s.Provisioning.Enabled:
			o.Warnings = append(o.Warnings, CodeMACIgnored+": device provisioning is not enabled for this tenant, the MAC was ignored")
		case model == "":
			o.Warnings = append(o.Warnings, CodeMACIgnored+": no phone model in the row and no default phone model in the settings, the MAC was ignored")
		case !s.Provisioning.ProvisionsFamily(PhoneFamily(model)):
			o.Warnings = append(o.Warnings, FamilyNotProvisionedWarning(model))
		default:
			o.Endpoint.Device = &Device{MAC: row.MAC, Model: model}
		}
	}
	if err := o.Validate(); err != nil {
		return RowObjects{}, err
	}
	return o, nil
}

// Validate checks every object of the row and that they agree.
func (o RowObjects) Validate() error {
	for _, v := range []interface{ Validate() error }{o.User, o.Ext, o.Mailbox, o.Endpoint, o.Contact} {
		if err := v.Validate(); err != nil {
			return err
		}
	}
	if (o.DID == nil) != (o.Route == nil) {
		return Errorf(EINVALID, "did", "a DID and its inbound route come together")
	}
	if o.DID != nil {
		if err := o.DID.Validate(); err != nil {
			return err
		}
		if err := o.Route.Validate(); err != nil {
			return err
		}
		if o.Route.DID != o.DID.Number || o.Route.Extension != o.Ext.Number || o.DID.Tenant != o.User.Tenant {
			return Errorf(EINVALID, "did", "inbound route does not match the DID and extension")
		}
	}
	return nil
}
