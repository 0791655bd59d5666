package pbx

import (
	"errors"
	"strings"
	"testing"
)

func TestMergeLayersInOrder(t *testing.T) {
	system := []byte(`{"extension_max_len": 5, "provisioning": {"time_zone": "Europe/Berlin"}}`)
	tenant := []byte(`{"provisioning": {"enabled": true, "registrar": "sip.acme.example", "default_phone_model": "yealink-t54w"}, "upload": {"welcome": "password"}}`)
	upload := []byte(`{"upload": {"on_existing": "skip", "welcome": "none"}}`)
	s, err := Merge(SystemDefaults(), system, tenant, upload)
	if err != nil {
		t.Fatal(err)
	}
	if s.ExtensionMaxLen != 5 || s.ExtensionMinLen != 2 {
		t.Errorf("extension lengths = %d-%d, want 2-5", s.ExtensionMinLen, s.ExtensionMaxLen)
	}
	if s.Provisioning.TimeZone != "Europe/Berlin" || !s.Provisioning.Enabled || s.Provisioning.Transport != "tls" {
		t.Errorf("nested merge lost a field: %+v", s.Provisioning)
	}
	if s.Upload.Welcome != WelcomeNone || s.Upload.OnExisting != OnExistingSkip {
		t.Errorf("upload options = %+v, want the last layer to win", s.Upload)
	}
}

func TestMergeDoesNotAliasBase(t *testing.T) {
	base := SystemDefaults()
	s, err := Merge(base, []byte(`{"reserved_extensions": ["999"]}`))
	if err != nil {
		t.Fatal(err)
	}
	s.ReservedExtensions[0] = "changed"
	if base.ReservedExtensions[0] == "changed" {
		t.Fatal("Merge result shares its slice with the base")
	}
}

func TestMergeRejects(t *testing.T) {
	for name, override := range map[string]string{
		"unknown field":        `{"extensoin_max_len": 4}`,
		"bad type":             `{"extension_max_len": "four"}`,
		"bad range":            `{"extension_min_len": 7, "extension_max_len": 3}`,
		"bad welcome":          `{"upload": {"welcome": "sometimes"}}`,
		"bad on-existing":      `{"upload": {"on_existing": "merge"}}`,
		"bad transport":        `{"provisioning": {"transport": "sctp"}}`,
		"no registrar":         `{"provisioning": {"enabled": true}}`,
		"lowercase region":     `{"default_region": "us"}`,
		"short password":       `{"password": {"length": 4}}`,
		"not json":             `{`,
		"pin length too short": `{"voicemail_pin_length": 3}`,
		// Issue #17: provisioning.path is one safe folder name.
		"path dot-dot":        `{"provisioning": {"path": "../beta"}}`,
		"path with slash":     `{"provisioning": {"path": "acme/../beta"}}`,
		"path dot":            `{"provisioning": {"path": "."}}`,
		"path uppercase":      `{"provisioning": {"path": "Beta"}}`,
		"path leading hyphen": `{"provisioning": {"path": "-beta"}}`,
		"path too long":       `{"provisioning": {"path": "` + strings.Repeat("a", 64) + `"}}`,
		"path encoded":        `{"provisioning": {"path": "beta%2f"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Merge(SystemDefaults(), []byte(override))
			var e *Error
			if !errors.As(err, &e) || e.Code != EINVALID {
				t.Fatalf("Merge(%s) error = %v, want an EINVALID *Error", override, err)
			}
		})
	}
}

func TestLocalTenantOverridesMerge(t *testing.T) {
	s, err := Merge(SystemDefaults(), LocalTenantOverrides("acme"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Provisioning.Enabled || s.Provisioning.DefaultPhoneModel == "" || s.Upload.Welcome != WelcomeInvite {
		t.Fatalf("local tenant settings = %+v", s)
	}
}

func TestNames(t *testing.T) {
	if got := PortalUserName("acme", "100"); got != "acme-100" {
		t.Errorf("PortalUserName = %q", got)
	}
	if got := SIPUserName("100", "acme"); got != "100-acme" {
		t.Errorf("SIPUserName = %q", got)
	}
	for name, ok := range map[string]bool{
		"acme": true, "a": true, "tenant42": true, "abcdefghijklmnopqrstuvwxyz012345": true,
		"": false, "Acme": false, "ac-me": false, "ac_me": false, "acme ": false, "../x": false,
		"abcdefghijklmnopqrstuvwxyz0123456": false, "ácme": false,
	} {
		if err := ValidateTenantName(name); (err == nil) != ok {
			t.Errorf("ValidateTenantName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestCombineOverrides(t *testing.T) {
	got, err := CombineOverrides(LocalTenantOverrides("acme"), []byte(`{"provisioning": {"default_phone_model": "snom-d785"}, "upload": {"welcome": "none"}}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Merge(SystemDefaults(), got)
	if err != nil {
		t.Fatal(err)
	}
	if s.Provisioning.DefaultPhoneModel != "snom-d785" || !s.Provisioning.Enabled || s.Provisioning.Registrar != "sip.acme.pbx.example" || s.Upload.Welcome != WelcomeNone {
		t.Fatalf("combined settings = %+v", s)
	}
	if _, err := CombineOverrides([]byte(`{}`), []byte(`{`)); ErrorCode(err) != EINVALID {
		t.Fatalf("bad JSON: %v", err)
	}
}
