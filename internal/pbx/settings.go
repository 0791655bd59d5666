package pbx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// OnExisting says what an upload does with a row whose extension exists.
type OnExisting string

const (
	OnExistingFail   OnExisting = "fail"
	OnExistingSkip   OnExisting = "skip"
	OnExistingUpdate OnExisting = "update"
)

// WelcomeMode says how new users get portal access.
type WelcomeMode string

const (
	WelcomeInvite   WelcomeMode = "invite"   // one-time link to set a password
	WelcomePassword WelcomeMode = "password" // temporary password, changed at first login
	WelcomeNone     WelcomeMode = "none"     // no email now; sent later on demand
)

// Options are the per-upload choices. They travel as S3 object metadata and
// default to the tenant's settings.
type Options struct {
	OnExisting     OnExisting  `json:"on_existing"`
	CreateDIDs     bool        `json:"create_dids"`
	DIDsAsCallerID bool        `json:"dids_as_caller_id"`
	Welcome        WelcomeMode `json:"welcome"`
	DryRun         bool        `json:"dry_run"`
	// ImportSecrets keeps the SIP secrets and voicemail PINs of a peer's
	// export (sealed like generated ones) so migrated phones keep
	// registering; off, they are ignored and new ones generated.
	ImportSecrets bool `json:"import_secrets,omitempty"`
}

// Validate checks each option's value.
func (o Options) Validate() error {
	switch o.OnExisting {
	case OnExistingFail, OnExistingSkip, OnExistingUpdate:
	default:
		return Errorf(EINVALID, "on-existing", "must be fail, skip or update, not %q", ClipN(string(o.OnExisting), 20))
	}
	switch o.Welcome {
	case WelcomeInvite, WelcomePassword, WelcomeNone:
	default:
		return Errorf(EINVALID, "welcome", "must be invite, password or none, not %q", ClipN(string(o.Welcome), 20))
	}
	return nil
}

// Layer is o as a settings layer for Merge ({"upload": o}): a job's
// options laid over its tenant's settings.
func (o Options) Layer() ([]byte, error) {
	return json.Marshal(map[string]Options{"upload": o})
}

// PasswordPolicy governs generated temporary portal passwords.
type PasswordPolicy struct {
	Length       int  `json:"length"`
	RequireUpper bool `json:"require_upper"`
	RequireLower bool `json:"require_lower"`
	RequireDigit bool `json:"require_digit"`
	RequireOther bool `json:"require_other"`
}

// Provisioning holds Device Provisioning settings for desk phones.
type Provisioning struct {
	Enabled           bool   `json:"enabled"`
	DefaultPhoneModel string `json:"default_phone_model"`
	// Families limits provisioning to these phone families (PhoneFamilies);
	// empty means every family. A row naming a model of another family
	// gets its user and a warning, no phone file.
	Families []string `json:"families,omitempty"`
	// Path is the tenant's folder in the provisioning bucket; empty means
	// the tenant name. Phones are given <base URL>/<Path>/ as their URL.
	Path            string `json:"path"`
	Registrar       string `json:"registrar"`
	Proxy           string `json:"proxy"`
	Port            int    `json:"port"`
	Transport       string `json:"transport"` // udp, tcp or tls
	VoicemailNumber string `json:"voicemail_number"`
	TimeZone        string `json:"time_zone"` // IANA name, e.g. America/Los_Angeles
	Language        string `json:"language"`  // BCP 47, e.g. en-US
	NTPServer       string `json:"ntp_server"`
}

// Email holds the welcome email's identity and the tenant's optional
// template overrides (validated when saved, see the welcome package).
type Email struct {
	From             string `json:"from"`
	ConfigurationSet string `json:"configuration_set"`
	PortalURL        string `json:"portal_url"` // invite links are <PortalURL>/invite/<token>
	Subject          string `json:"subject,omitempty"`
	TextBody         string `json:"text_body,omitempty"`
	HTMLBody         string `json:"html_body,omitempty"`
	IncludeSIPSecret bool   `json:"include_sip_secret"`
	InviteTTLHours   int    `json:"invite_ttl_hours"`
	NotifyUploader   string `json:"notify_uploader,omitempty"` // address for the job summary, if any
	// DailyQuota bounds the tenant's welcome emails per UTC day (0: only the
	// SES account's quota); the rest are held, not failed.
	DailyQuota int `json:"daily_quota,omitempty"`
}

// Settings are the effective settings for one upload: system defaults, then
// the tenant's overrides, then the upload's options, merged by Merge.
type Settings struct {
	TenantDisplayName  string         `json:"tenant_display_name"`
	ExtensionMinLen    int            `json:"extension_min_len"`
	ExtensionMaxLen    int            `json:"extension_max_len"`
	ReservedExtensions []string       `json:"reserved_extensions"` // feature codes, emergency numbers
	DefaultRegion      string         `json:"default_region"`      // ISO 3166 region for phone numbers
	MaxObjectBytes     int64          `json:"max_object_bytes"`
	MaxRows            int            `json:"max_rows"`
	AllOrNothing       bool           `json:"all_or_nothing"`
	CallScript         string         `json:"call_script"`
	VoicemailPINLength int            `json:"voicemail_pin_length"`
	Password           PasswordPolicy `json:"password"`
	Provisioning       Provisioning   `json:"provisioning"`
	Email              Email          `json:"email"`
	Upload             Options        `json:"upload"`
	BatchSize          int            `json:"batch_size"`
}

// SystemDefaults are the values a fresh installation starts with.
func SystemDefaults() Settings {
	return Settings{
		ExtensionMinLen:    2,
		ExtensionMaxLen:    6,
		ReservedExtensions: []string{"0", "112", "911", "999", "411", "611", "711", "811"},
		DefaultRegion:      "US",
		MaxObjectBytes:     50 << 20,
		MaxRows:            100_000,
		CallScript:         "ring-then-voicemail",
		VoicemailPINLength: 6,
		Password:           PasswordPolicy{Length: 14, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireOther: true},
		Provisioning: Provisioning{
			Port: 5061, Transport: "tls", VoicemailNumber: "*97",
			TimeZone: "UTC", Language: "en-US", NTPServer: "pool.ntp.org",
		},
		Email:     Email{InviteTTLHours: 72},
		Upload:    Options{OnExisting: OnExistingFail, Welcome: WelcomeInvite},
		BatchSize: 50,
	}
}

// Merge lays each override (a JSON object holding any subset of Settings'
// fields, nested objects merged field by field) over base, in order, and
// validates the result. Unknown fields are rejected so that a typo in a
// tenant's settings is an error, not a silently ignored value.
func Merge(base Settings, overrides ...[]byte) (Settings, error) {
	s := base
	s.ReservedExtensions = append([]string(nil), base.ReservedExtensions...)
	for i, o := range overrides {
		if len(bytes.TrimSpace(o)) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(o))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return Settings{}, &Error{Code: EINVALID, Field: "settings", Message: fmt.Sprintf("override %d: %v", i+1, err), Err: err}
		}
	}
	if err := s.Validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Validate checks that the settings are usable.
func (s Settings) Validate() error {
	switch {
	case s.ExtensionMinLen < 1 || s.ExtensionMaxLen < s.ExtensionMinLen || s.ExtensionMaxLen > 12:
		return Errorf(EINVALID, "extension_min_len", "extension lengths %d-%d are not a valid range within 1-12", s.ExtensionMinLen, s.ExtensionMaxLen)
	case len(s.DefaultRegion) != 2 || strings.ToUpper(s.DefaultRegion) != s.DefaultRegion:
		return Errorf(EINVALID, "default_region", "must be a two-letter ISO 3166 region such as US, not %q", ClipN(s.DefaultRegion, 10))
	case s.MaxObjectBytes <= 0:
		return Errorf(EINVALID, "max_object_bytes", "must be positive")
	case s.MaxRows <= 0:
		return Errorf(EINVALID, "max_rows", "must be positive")
	case s.VoicemailPINLength < 4 || s.VoicemailPINLength > 12:
		return Errorf(EINVALID, "voicemail_pin_length", "must be 4-12, not %d", s.VoicemailPINLength)
	case s.Password.Length < 8 || s.Password.Length > 128:
		return Errorf(EINVALID, "password.length", "must be 8-128, not %d", s.Password.Length)
	case s.BatchSize < 1 || s.BatchSize > 500:
		return Errorf(EINVALID, "batch_size", "must be 1-500, not %d", s.BatchSize)
	case s.Email.InviteTTLHours < 1:
		return Errorf(EINVALID, "email.invite_ttl_hours", "must be positive")
	case s.Email.DailyQuota < 0 || s.Email.DailyQuota > 10_000_000:
		return Errorf(EINVALID, "email.daily_quota", "must be 0 (no tenant limit) to 10000000, not %d", s.Email.DailyQuota)
	}
	switch s.Provisioning.Transport {
	case "udp", "tcp", "tls":
	default:
		return Errorf(EINVALID, "provisioning.transport", "must be udp, tcp or tls, not %q", ClipN(s.Provisioning.Transport, 10))
	}
	if p := s.Provisioning.Path; p != "" && !ProvisioningPathRE.MatchString(p) {
		return Errorf(EINVALID, "provisioning.path", "must be one folder name of 1-63 lowercase letters, digits and hyphens, starting with a letter or digit (no / or ..), not %q", ClipN(p, 70))
	}
	if s.Provisioning.Enabled && s.Provisioning.Registrar == "" {
		return Errorf(EINVALID, "provisioning.registrar", "is required when provisioning is enabled")
	}
	if err := validatePhoneFamilies(s.Provisioning.Families); err != nil {
		return err
	}
	if m := s.Provisioning.DefaultPhoneModel; m != "" && PhoneFamily(m) == "" {
		return Errorf(EINVALID, "provisioning.default_phone_model", "%q is not a supported phone model; supported models: %s",
			ClipN(m, 40), strings.Join(PhoneModels(), ", "))
	}
	return s.Upload.Validate()
}

// ProvisioningPathRE is the shape of provisioning.path: one safe key
// segment, so that no tenant's files can land in another's folder.
var ProvisioningPathRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ProvisioningPath is the tenant's folder in the provisioning bucket.
func (s Settings) ProvisioningPath(tenant string) string {
	if s.Provisioning.Path != "" {
		return s.Provisioning.Path
	}
	return tenant
}

// CombineOverrides lays override b over override a (a JSON merge patch,
// RFC 7386: objects merge key by key, anything else replaces), giving one
// override document equivalent to applying a then b. A null in b leaves
// the value of a unchanged.
func CombineOverrides(a, b []byte) ([]byte, error) {
	var base, patch any
	if len(bytes.TrimSpace(a)) > 0 {
		if err := json.Unmarshal(a, &base); err != nil {
			return nil, &Error{Code: EINVALID, Field: "settings", Message: err.Error(), Err: err}
		}
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &patch); err != nil {
			return nil, &Error{Code: EINVALID, Field: "settings", Message: err.Error(), Err: err}
		}
	}
	return json.Marshal(mergePatch(base, patch))
}

func mergePatch(base, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		if patch == nil {
			return base
		}
		return patch
	}
	b, ok := base.(map[string]any)
	if !ok {
		b = map[string]any{}
	}
	for k, v := range p {
		b[k] = mergePatch(b[k], v)
	}
	return b
}
