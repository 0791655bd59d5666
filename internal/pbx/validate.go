package pbx

import (
	"regexp"
	"strings"
)

// Field rules shared by the objects' Validate methods.
var (
	extensionRE = regexp.MustCompile(`^[0-9]{1,12}$`)
	e164RE      = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	macRE       = regexp.MustCompile(`^[0-9a-f]{12}$`)
	// callerIDNumRE allows an extension, an E.164 number or a national number.
	callerIDNumRE = regexp.MustCompile(`^\+?[0-9*#]{1,20}$`)
)

// ValidateExtension reports whether ext is 1-12 digits. The tenant's
// length range and reserved numbers are checked by upload validation.
func ValidateExtension(ext string) error {
	if !extensionRE.MatchString(ext) {
		return Errorf(EINVALID, "extension", "extension %q must be 1-12 digits", ClipN(ext, 20))
	}
	return nil
}

// validateText applies CheckLength and CheckText to a free-text field.
func validateText(field, v string) error {
	if why := CheckLength(v, MaxFieldLen); why != "" {
		return Errorf(EINVALID, field, "%s", why)
	}
	if why := CheckText(v); why != "" {
		return Errorf(EINVALID, field, "%s", why)
	}
	return nil
}

// validateEmail applies CheckEmail to an optional address.
func validateEmail(field, v string) error {
	if v == "" {
		return nil
	}
	if why := CheckEmail(v); why != "" {
		return Errorf(EINVALID, field, "%q %s", Clip(v), why)
	}
	return nil
}

func validateE164(field, v string) error {
	if !e164RE.MatchString(v) {
		return Errorf(EINVALID, field, "%q is not an E.164 number", ClipN(v, 20))
	}
	return nil
}

func validateTexts(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if err := validateText(fields[i], fields[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the user's names and credentials' shape.
func (u User) Validate() error {
	if err := ValidateTenantName(u.Tenant); err != nil {
		return err
	}
	if err := ValidateExtension(u.Extension); err != nil {
		return err
	}
	if u.Name != PortalUserName(u.Tenant, u.Extension) {
		return Errorf(EINVALID, "user", "user name %q must be %q", ClipN(u.Name, 40), PortalUserName(u.Tenant, u.Extension))
	}
	if err := validateTexts("first_name", u.FirstName, "last_name", u.LastName, "department", u.Department); err != nil {
		return err
	}
	if err := validateEmail("email", u.Email); err != nil {
		return err
	}
	switch u.WelcomeMode {
	case WelcomeInvite, WelcomePassword, WelcomeNone:
	default:
		return Errorf(EINVALID, "welcome", "must be invite, password or none, not %q", ClipN(string(u.WelcomeMode), 20))
	}
	if u.PasswordHash != "" && !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		return Errorf(EINVALID, "password_hash", "must be an Argon2id PHC string")
	}
	return nil
}

// Validate checks the extension's number and links.
func (e Extension) Validate() error {
	if err := ValidateTenantName(e.Tenant); err != nil {
		return err
	}
	if err := ValidateExtension(e.Number); err != nil {
		return err
	}
	switch {
	case e.User != PortalUserName(e.Tenant, e.Number):
		return Errorf(EINVALID, "user", "extension %s must belong to user %s", e.Number, PortalUserName(e.Tenant, e.Number))
	case e.Endpoint != "" && e.Endpoint != SIPUserName(e.Number, e.Tenant):
		return Errorf(EINVALID, "endpoint", "extension %s must ring endpoint %s", e.Number, SIPUserName(e.Number, e.Tenant))
	case e.CallScript == "":
		return Errorf(EINVALID, "call_script", "is required")
	}
	return validateText("call_script", e.CallScript)
}

// Validate checks the mailbox's owner, email and pager.
func (m Mailbox) Validate() error {
	if err := ValidateTenantName(m.Tenant); err != nil {
		return err
	}
	if err := ValidateExtension(m.Number); err != nil {
		return err
	}
	if m.Owner == "" {
		return Errorf(EINVALID, "owner", "mailbox %s needs an owner name", m.Number)
	}
	if err := validateText("owner", m.Owner); err != nil {
		return err
	}
	if err := validateEmail("email", m.Email); err != nil {
		return err
	}
	if m.Pager != "" {
		return validateE164("mobile", m.Pager)
	}
	return nil
}

// Validate checks the endpoint's SIP user, caller ID and device.
func (e Endpoint) Validate() error {
	if err := ValidateTenantName(e.Tenant); err != nil {
		return err
	}
	if err := ValidateExtension(e.Extension); err != nil {
		return err
	}
	if e.SIPUser != SIPUserName(e.Extension, e.Tenant) {
		return Errorf(EINVALID, "sip_user", "SIP user %q must be %q", ClipN(e.SIPUser, 40), SIPUserName(e.Extension, e.Tenant))
	}
	if err := validateText("caller_id", e.CallerIDName); err != nil {
		return err
	}
	if !callerIDNumRE.MatchString(e.CallerIDNum) {
		return Errorf(EINVALID, "caller_id", "caller ID number %q must be digits, optionally with a leading +", ClipN(e.CallerIDNum, 24))
	}
	if e.Mailbox != "" {
		if err := ValidateExtension(e.Mailbox); err != nil {
			return err
		}
	}
	if e.Device != nil {
		return e.Device.Validate()
	}
	return nil
}

// Validate checks the device's MAC (normalized) and model.
func (d Device) Validate() error {
	if !macRE.MatchString(d.MAC) {
		return Errorf(EINVALID, "mac", "MAC %q must be 12 lowercase hex digits", ClipN(d.MAC, 20))
	}
	if d.Model == "" {
		return Errorf(EINVALID, "phone_model", "is required for a device")
	}
	return validateText("phone_model", d.Model)
}

// Validate checks the directory contact's fields.
func (c DirectoryContact) Validate() error {
	if err := ValidateTenantName(c.Tenant); err != nil {
		return err
	}
	if err := ValidateExtension(c.Extension); err != nil {
		return err
	}
	if err := validateTexts("first_name", c.FirstName, "last_name", c.LastName, "department", c.Department); err != nil {
		return err
	}
	return validateEmail("email", c.Email)
}

// Validate checks the DID's number and owner.
func (d DID) Validate() error {
	if err := ValidateTenantName(d.Tenant); err != nil {
		return err
	}
	return validateE164("did", d.Number)
}

// Validate checks the route's DID and target.
func (r InboundRoute) Validate() error {
	if err := ValidateTenantName(r.Tenant); err != nil {
		return err
	}
	if err := validateE164("did", r.DID); err != nil {
		return err
	}
	return ValidateExtension(r.Extension)
}
