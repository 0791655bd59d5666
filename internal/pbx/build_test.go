package pbx

import (
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	base := SystemDefaults()
	provisioned := SystemDefaults()
	provisioned.Provisioning.Enabled = true
	provisioned.Provisioning.Registrar = "sip.acme.example"
	provisioned.Provisioning.DefaultPhoneModel = "yealink-t54w"
	noModel := provisioned
	noModel.Provisioning.DefaultPhoneModel = ""
	didCaller := SystemDefaults()
	didCaller.Upload.DIDsAsCallerID = true
	password := SystemDefaults()
	password.Upload.Welcome = WelcomePassword

	ann := UserRow{Line: 2, Extension: "100", FirstName: "Ann", LastName: "Lee", Email: "ann@acme.example", Mobile: "+14155550123", Department: "Sales"}
	with := func(f func(*UserRow)) UserRow { r := ann; f(&r); return r }

	for _, tc := range []struct {
		name        string
		s           Settings
		row         UserRow
		callerName  string
		callerNum   string
		device      *Device
		did         bool
		warning     string
		welcomeMode WelcomeMode
	}{
		{name: "plain", s: base, row: ann, callerName: "Ann Lee", callerNum: "100", welcomeMode: WelcomeInvite},
		{name: "did routes, caller id stays extension", s: base, row: with(func(r *UserRow) { r.DID = "+14155550100" }), callerName: "Ann Lee", callerNum: "100", did: true, welcomeMode: WelcomeInvite},
		{name: "dids as caller id", s: didCaller, row: with(func(r *UserRow) { r.DID = "+14155550100" }), callerName: "Ann Lee", callerNum: "+14155550100", did: true, welcomeMode: WelcomeInvite},
		{name: "dids as caller id without did", s: didCaller, row: ann, callerName: "Ann Lee", callerNum: "100", welcomeMode: WelcomeInvite},
		{name: "row caller id number overrides did", s: didCaller, row: with(func(r *UserRow) { r.DID = "+14155550100"; r.CallerID = "+14155550199" }), callerName: "Ann Lee", callerNum: "+14155550199", did: true, welcomeMode: WelcomeInvite},
		{name: "row caller id with name", s: base, row: with(func(r *UserRow) { r.CallerID = `"Acme Sales" <+14155550111>` }), callerName: "Acme Sales", callerNum: "+14155550111", welcomeMode: WelcomeInvite},
		{name: "mac with default model", s: provisioned, row: with(func(r *UserRow) { r.MAC = "001565a1b2c3" }), callerName: "Ann Lee", callerNum: "100", device: &Device{MAC: "001565a1b2c3", Model: "yealink-t54w"}, welcomeMode: WelcomeInvite},
		{name: "mac with row model", s: provisioned, row: with(func(r *UserRow) { r.MAC = "001565a1b2c3"; r.PhoneModel = "polycom-vvx450" }), callerName: "Ann Lee", callerNum: "100", device: &Device{MAC: "001565a1b2c3", Model: "polycom-vvx450"}, welcomeMode: WelcomeInvite},
		{name: "mac without provisioning", s: base, row: with(func(r *UserRow) { r.MAC = "001565a1b2c3" }), callerName: "Ann Lee", callerNum: "100", warning: CodeMACIgnored, welcomeMode: WelcomeInvite},
		{name: "mac without model", s: noModel, row: with(func(r *UserRow) { r.MAC = "001565a1b2c3" }), callerName: "Ann Lee", callerNum: "100", warning: CodeMACIgnored, welcomeMode: WelcomeInvite},
		{name: "no name uses extension", s: password, row: UserRow{Line: 3, Extension: "101"}, callerName: "101", callerNum: "101", welcomeMode: WelcomePassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Build("acme", tc.s, tc.row)
			if err != nil {
				t.Fatal(err)
			}
			ext := tc.row.Extension
			if o.User.Name != "acme-"+ext || o.Endpoint.SIPUser != ext+"-acme" || o.User.WelcomeMode != tc.welcomeMode {
				t.Errorf("names = %s / %s, welcome %s", o.User.Name, o.Endpoint.SIPUser, o.User.WelcomeMode)
			}
			if o.Ext.CallScript != "ring-then-voicemail" || o.Ext.Endpoint != ext+"-acme" || o.Ext.Mailbox != ext || o.Ext.User != "acme-"+ext {
				t.Errorf("extension = %+v", o.Ext)
			}
			if o.Mailbox.Owner != tc.callerName && tc.row.CallerID == "" || o.Mailbox.Email != tc.row.Email || o.Mailbox.Pager != tc.row.Mobile {
				t.Errorf("mailbox = %+v", o.Mailbox)
			}
			if o.Endpoint.CallerIDName != tc.callerName || o.Endpoint.CallerIDNum != tc.callerNum || o.Endpoint.Mailbox != ext {
				t.Errorf("endpoint caller ID = %q <%s>, mailbox %q; want %q <%s>", o.Endpoint.CallerIDName, o.Endpoint.CallerIDNum, o.Endpoint.Mailbox, tc.callerName, tc.callerNum)
			}
			if (o.Endpoint.Device == nil) != (tc.device == nil) || tc.device != nil && *o.Endpoint.Device != *tc.device {
				t.Errorf("device = %+v, want %+v", o.Endpoint.Device, tc.device)
			}
			if o.Contact.FirstName != tc.row.FirstName || o.Contact.Email != tc.row.Email || o.Contact.Department != tc.row.Department || o.Contact.Extension != ext {
				t.Errorf("contact = %+v", o.Contact)
			}
			if (o.DID != nil) != tc.did || tc.did && (o.DID.Number != tc.row.DID || o.DID.Tenant != "acme" || o.Route.Extension != ext || o.Route.DID != tc.row.DID) {
				t.Errorf("did = %+v route %+v", o.DID, o.Route)
			}
			if tc.warning == "" && len(o.Warnings) > 0 || tc.warning != "" && (len(o.Warnings) != 1 || !strings.HasPrefix(o.Warnings[0], tc.warning)) {
				t.Errorf("warnings = %q, want %q", o.Warnings, tc.warning)
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	s := SystemDefaults()
	for name, tc := range map[string]struct {
		tenant string
		row    UserRow
		field  string
	}{
		"bad tenant":         {"Acme-1", UserRow{Extension: "100"}, "tenant"},
		"no extension":       {"acme", UserRow{}, "extension"},
		"letters extension":  {"acme", UserRow{Extension: "10a"}, "extension"},
		"crlf in name":       {"acme", UserRow{Extension: "100", FirstName: "Ann\r\nBcc: x"}, "first_name"},
		"bad email":          {"acme", UserRow{Extension: "100", Email: "ann at acme"}, "email"},
		"bad did":            {"acme", UserRow{Extension: "100", DID: "4155550100"}, "did"},
		"bad mobile":         {"acme", UserRow{Extension: "100", Mobile: "555"}, "mobile"},
		"bad caller id":      {"acme", UserRow{Extension: "100", CallerID: "call me"}, "caller_id"},
		"too long last name": {"acme", UserRow{Extension: "100", LastName: strings.Repeat("x", 300)}, "last_name"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Build(tc.tenant, s, tc.row)
			var e *Error
			if err == nil || ErrorCode(err) != EINVALID {
				t.Fatalf("Build = %v, want EINVALID", err)
			}
			if e = err.(*Error); e.Field != tc.field {
				t.Fatalf("field = %q, want %q (%v)", e.Field, tc.field, err)
			}
		})
	}
}

func TestValidateObjects(t *testing.T) {
	for name, tc := range map[string]struct {
		v  interface{ Validate() error }
		ok bool
	}{
		"user ok":            {User{Tenant: "acme", Name: "acme-100", Extension: "100", WelcomeMode: WelcomeInvite}, true},
		"user wrong name":    {User{Tenant: "acme", Name: "100", Extension: "100", WelcomeMode: WelcomeInvite}, false},
		"user bad mode":      {User{Tenant: "acme", Name: "acme-100", Extension: "100", WelcomeMode: "sms"}, false},
		"user bad hash":      {User{Tenant: "acme", Name: "acme-100", Extension: "100", WelcomeMode: WelcomePassword, PasswordHash: "plain"}, false},
		"extension ok":       {Extension{Tenant: "acme", Number: "100", User: "acme-100", CallScript: "x", Endpoint: "100-acme"}, true},
		"extension no user":  {Extension{Tenant: "acme", Number: "100", CallScript: "x"}, false},
		"extension wrong ep": {Extension{Tenant: "acme", Number: "100", User: "acme-100", CallScript: "x", Endpoint: "101-acme"}, false},
		"mailbox no owner":   {Mailbox{Tenant: "acme", Number: "100"}, false},
		"endpoint wrong sip": {Endpoint{Tenant: "acme", SIPUser: "acme-100", Extension: "100", CallerIDNum: "100"}, false},
		"device upper mac":   {Device{MAC: "001565A1B2C3", Model: "x"}, false},
		"device no model":    {Device{MAC: "001565a1b2c3"}, false},
		"device ok":          {Device{MAC: "001565a1b2c3", Model: "yealink-t54w"}, true},
		"did ok":             {DID{Tenant: "acme", Number: "+14155550100"}, true},
		"did no plus":        {DID{Tenant: "acme", Number: "14155550100"}, false},
		"route bad ext":      {InboundRoute{Tenant: "acme", DID: "+14155550100", Extension: "x"}, false},
		"contact bad email":  {DirectoryContact{Tenant: "acme", Extension: "100", Email: "a@"}, false},
	} {
		if err := tc.v.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok %v", name, err, tc.ok)
		}
	}
}
