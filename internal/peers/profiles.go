package peers

// This file is table code: one function per peer format, each a Profile
// literal whose rules map every column the peer writes to what it feeds
// or why it is ignored. The shape repeats on purpose. A column's rule is
// found by its name, as the peer writes it, in one place, and each
// ignore reason is the exact text of the column report. A denser form
// (targets listing their columns, helpers for shared reasons) would save
// a line or two per peer, but would part a column's rule from its name
// and hide the report's wording behind helpers.

import "sync"

// profiles returns the peer formats in detection order: the most specific
// signatures first (FreePBX's DIDs export before its extensions export,
// Issabel before FreePBX, FS PBX before FusionPBX).
var profiles = sync.OnceValue(func() []*Profile {
	return []*Profile{
		vodia(), freePBXDIDs(), issabel(), freePBXExtensions(), threeCX(), wazo(),
		fsPBX(), fusionPBXDevices(), fusionPBXExtensions(), kazoo(), switchvox(), yeastar(),
	}
})

// Profiles lists the supported peer formats (for documentation and tests).
func Profiles() []*Profile { return profiles() }

func freePBXExtensions() *Profile {
	return &Profile{
		ID: "freepbx-extensions", Peer: "FreePBX", File: "Bulk Handler extensions export", Version: 1, Kind: KindUsers,
		Source: "FreePBX/bulkhandler utests/extensions.csv and template.csv (header varies with version and modules)",
		markers: []string{"tech", "devicetype", "dial", "sipname", "outboundcid", "voicemailenable", "voicemailvmpwd",
			"voicemailemail", "callwaitingenable", "devinfosecret", "secret", "cidmasquerade", "ringtimer", "emergencycid",
			"noanswerdest", "recordingin", "findmefollowstrategy", "mohclass", "vmpwd", "callerid", "devinfocontext", "vmcontext"},
		minMarkers: 3,
		required:   [][]string{{"extension"}, {"name"}},
		rules: map[string]rule{
			"extension":       feed(tExtension),
			"name":            feed(tFullName),
			"tech":            feed(tTech),
			"action":          feed(tAction),
			"outboundcid":     feed(tCallerID),
			"email":           feed(tEmail), // User Manager's email, when installed
			"voicemailemail":  feed(tEmailFallback),
			"directdid":       feed(tDID), // legacy Bulk Extensions format
			"secret":          feed(tSIPSecret),
			"devinfosecret":   feed(tSIPSecret),
			"voicemailvmpwd":  feed(tPIN),
			"vmpwd":           feed(tPIN),
			"password":        feed(tPortalPassword),
			"usermanpassword": feed(tPortalPassword),
			"callerid":        ignore(`the device's internal caller ID (often "device <ext>"), not the user's; the caller ID comes from outboundcid`),
			"description":     ignore("the device description; the name comes from name"),
			"emergencycid":    ignore("emergency caller ID: set on the trunk here"),
			"voicemail":       ignore("voicemail context: every user here has a mailbox"),
			"voicemailpager":  ignore("voicemail pager address: an email address, not a mobile number"),
			"user":            ignore("the device's user number (same as the extension in extensions mode)"),
			"id":              ignore("the device id (same as the extension)"),
			"sipname":         ignore("SIP alias: the SIP user here is generated"),
		},
		other:    "FreePBX setting with no equivalent here",
		sipTechs: []string{"sip", "pjsip", "chan_sip", "chan_pjsip"},
		techWhat: "tech",
	}
}

func freePBXDIDs() *Profile {
	return &Profile{
		ID: "freepbx-dids", Peer: "FreePBX", File: "Bulk Handler DIDs export", Version: 1, Kind: KindDIDRoutes,
		Source:     "FreePBX core bulk handler: the incoming (inbound routes) table's columns",
		markers:    []string{"cidnum", "destination", "privacyman", "alertinfo", "grppre", "delayanswer", "pricid", "pmmaxretries", "pmminlength", "reversal", "rvolume", "fanswer", "ringing", "indicationzone"},
		minMarkers: 2,
		required:   [][]string{{"extension"}, {"destination"}},
		rules: map[string]rule{
			"extension":   feed(tDID), // in a DIDs export "extension" is the DID number
			"destination": feed(tDestination),
			"cidnum":      feed(tRouteCID),
			"description": ignore("the route's description"),
		},
		other: "inbound route setting with no equivalent here",
	}
}

func issabel() *Profile {
	return &Profile{
		ID: "issabel-extensions", Peer: "Issabel", File: "extensions batch (CSV download)", Version: 1, Kind: KindUsers,
		Source:     "Issabel/Elastix extensions_batch module (paloSantoExtensionsBatch getFieldTitles)",
		markers:    []string{"userextension", "displayname", "voicemailstatus", "vmemailaddress", "vmpageremailaddress", "vmoptions", "vmplaycid"},
		minMarkers: 2,
		required:   [][]string{{"User Extension"}, {"Display Name"}},
		rules: map[string]rule{
			"userextension":       feed(tExtension),
			"displayname":         feed(tFullName),
			"directdid":           feed(tDID),
			"outboundcid":         feed(tCallerID),
			"vmemailaddress":      feed(tEmail),
			"tech":                feed(tTech),
			"secret":              feed(tSIPSecret),
			"voicemailpassword":   feed(tPIN),
			"vmpageremailaddress": ignore("voicemail pager address: an email address, not a mobile number"),
			"context":             ignore("dialplan context"),
		},
		other:    "Issabel setting with no equivalent here",
		sipTechs: []string{"sip", "pjsip"},
		techWhat: "Tech",
	}
}

func threeCX() *Profile {
	return &Profile{
		ID: "3cx-extensions", Peer: "3CX", File: "extensions import/export", Version: 1, Kind: KindUsers,
		Source: "https://www.3cx.com/blog/docs/bulk-extension-import/ (\"the position of the column must remain as is\")",
		markers: []string{"authid", "authpassword", "outboundcallerid", "webmeetingfriendlyname", "webmeetingprivateroom",
			"clicktocall", "enablevoicemail", "vmnopin", "vmplaycallerid", "emailaddress", "mobilenumber", "vmemailoptions"},
		minMarkers: 2,
		needAll:    []string{"number", "firstname", "lastname"},
		// 3CX reads its leading columns by position, whatever the header says.
		positional:      []string{"number", "firstname", "lastname", "emailaddress", "mobilenumber"},
		positionalNames: []string{"Number", "FirstName", "LastName", "EmailAddress", "MobileNumber"},
		required:        [][]string{{"Number"}},
		rules: map[string]rule{
			"number":           feed(tExtension),
			"firstname":        feed(tFirstName),
			"lastname":         feed(tLastName),
			"emailaddress":     feed(tEmail),
			"mobilenumber":     feed(tMobile),
			"outboundcallerid": feed(tCallerID),
			"did":              feed(tDID),
			"mac":              feed(tMAC),
			"mac1":             feed(tMAC),
			"phonemac":         feed(tMAC),
			"phonemodel":       feed(tPhoneModel),
			"authpassword":     feed(tSIPSecret),
			"pin":              feed(tPIN),
			"authid":           ignore("SIP auth ID: the SIP user here is generated"),
			"enablevoicemail":  ignore("every user here has a mailbox"),
			"department":       feed(tDepartment),
			"disabled":         ignore("3CX disable flag: see the report's warnings"),
		},
		other: "3CX setting with no equivalent here",
	}
}

func wazo() *Profile {
	return &Profile{
		ID: "wazo-users", Peer: "Wazo", File: "users/export or users/import CSV", Version: 1, Kind: KindUsers,
		Source: "wazo-platform/wazo-confd wazo_confd/plugins/user_import/csvparse.py (fields shared by users/export)",
		markers: []string{"exten", "lineprotocol", "sipusername", "sipsecret", "outgoingcallerid", "mobilephonenumber",
			"incallexten", "incallcontext", "voicemailnumber", "voicemailcontext", "subscriptiontype", "ringseconds",
			"simultaneouscalls", "supervisionenabled", "calltransferenabled", "callpermissions", "provisioningcode", "userfield", "entityid"},
		minMarkers: 2,
		required:   [][]string{{"exten"}, {"firstname"}},
		rules: map[string]rule{
			"exten":                  feed(tExtension),
			"firstname":              feed(tFirstName),
			"lastname":               feed(tLastName),
			"email":                  feed(tEmail),
			"voicemailemail":         feed(tEmailFallback),
			"mobilephonenumber":      feed(tMobile),
			"outgoingcallerid":       feed(tCallerID),
			"incallexten":            feed(tDID),
			"enabled":                feed(tEnabled),
			"lineprotocol":           feed(tTech),
			"sipsecret":              feed(tSIPSecret),
			"voicemailpassword":      feed(tPIN),
			"password":               feed(tPortalPassword),
			"callpermissionpassword": feed(tPortalPassword),
			"sipusername":            ignore("SIP username: the SIP user here is generated"),
			"username":               ignore("portal login: the portal login here is made from the extension"),
			"context":                ignore("Wazo context: the tenant is the context here"),
			"incallcontext":          ignore("Wazo context: the tenant is the context here"),
			"uuid":                   ignore("Wazo's user id"),
		},
		other:    "Wazo setting with no equivalent here",
		sipTechs: []string{"sip", "webrtc"},
		techWhat: "line_protocol",
	}
}

func kazoo() *Profile {
	return &Profile{
		ID: "kazoo-csv-onboarding", Peer: "Kazoo", File: "csv-onboarding users (or users & devices) file", Version: 1, Kind: KindUsers,
		Source:     "2600hz/monster-ui-csv-onboarding i18n/en-US.json (column list) and dunderMifflin.csv",
		markers:    []string{"notificationemail", "brand", "family", "password", "extension", "email", "extensionnumber", "emailaddress", "macaddress"},
		minMarkers: 3,
		needAll:    []string{"firstname", "lastname"},
		needAny:    []string{"notificationemail", "brand", "family", "password"},
		required:   [][]string{{"extension", "extension_number"}},
		rules: map[string]rule{
			"extension":         feed(tExtension),
			"extensionnumber":   feed(tExtension),
			"firstname":         feed(tFirstName),
			"lastname":          feed(tLastName),
			"email":             feed(tEmail),
			"emailaddress":      feed(tEmail),
			"macaddress":        feed(tMAC),
			"brand":             feed(tVendor),
			"model":             feed(tModel),
			"password":          feed(tPortalPassword),
			"family":            ignore("phone family: the model decides the configuration here"),
			"notificationemail": ignore("voicemail notification address: the welcome email and voicemail go to email"),
		},
		other: "Kazoo setting with no equivalent here",
	}
}

func fusionPBXExtensions() *Profile {
	return &Profile{
		ID: "fusionpbx-extensions", Peer: "FusionPBX", File: "extensions download", Version: 1, Kind: KindUsers,
		Source: "fusionpbx/fusionpbx app/extensions/extension_download.php (the admin picks the columns)",
		markers: []string{"effectivecalleridname", "effectivecalleridnumber", "outboundcalleridname", "outboundcalleridnumber",
			"directoryfirstname", "directorylastname", "numberalias", "extensionuuid", "domainuuid", "usercontext", "tollallow",
			"accountcode", "limitmax", "calltimeout", "directoryvisible", "directoryextenvisible", "callgroup", "userrecord",
			"holdmusic", "forwardallenabled", "donotdisturb", "missedcallapp", "dialstring", "mwiaccount",
			"emergencycalleridname", "emergencycalleridnumber"},
		minMarkers: 2,
		required:   [][]string{{"extension"}},
		rules: map[string]rule{
			"extension":               feed(tExtension),
			"directoryfirstname":      feed(tFirstName),
			"directorylastname":       feed(tLastName),
			"effectivecalleridname":   feed(tFullName),
			"outboundcalleridnumber":  feed(tCallerID),
			"outboundcalleridname":    feed(tCallerIDName),
			"voicemailmailto":         feed(tEmail),
			"enabled":                 feed(tEnabled),
			"password":                feed(tSIPSecret),
			"effectivecalleridnumber": ignore("internal caller ID number: the extension here"),
			"numberalias":             ignore("number alias: no equivalent here"),
			"description":             ignore("the extension's description"),
			"usercontext":             ignore("FusionPBX domain context: the tenant is the context here"),
		},
		other: "FusionPBX setting with no equivalent here",
	}
}

func fusionPBXDevices() *Profile {
	return &Profile{
		ID: "fusionpbx-devices", Peer: "FusionPBX", File: "devices download", Version: 1, Kind: KindDevices,
		Source: "fusionpbx/fusionpbx app/devices/device_download.php (devices and device_lines columns)",
		markers: []string{"devicemacaddress", "devicevendor", "devicetemplate", "devicelabel", "deviceuuid", "deviceprofileuuid",
			"deviceenabled", "deviceusername", "devicepassword", "linenumber", "userid", "authid", "serveraddress", "deviceprovisioneddate"},
		minMarkers: 2,
		needAll:    []string{"devicemacaddress"},
		required:   [][]string{{"device_mac_address"}, {"user_id"}},
		rules: map[string]rule{
			"devicemacaddress": feed(tMAC),
			"userid":           feed(tExtension), // the device line's user: the extension
			"devicevendor":     feed(tVendor),
			"devicetemplate":   feed(tTemplate),
			"deviceenabled":    feed(tEnabled),
			"password":         feed(tPortalPassword), // the line's SIP password: the user's own secret is kept
			"devicepassword":   feed(tPortalPassword),
			"devicelabel":      ignore("device label"),
			"authid":           ignore("SIP auth ID: the SIP user here is generated"),
			"linenumber":       ignore("line key: the user's line is line 1 here"),
		},
		other: "FusionPBX device setting with no equivalent here",
	}
}

func fsPBX() *Profile {
	return &Profile{
		ID: "fspbx-extensions", Peer: "FS PBX", File: "extensions export or import template", Version: 1, Kind: KindUsers,
		Source:     "nemerald-voip/fspbx app/Exports/ExtensionsExport.php and ExtensionsTemplate.php",
		markers:    []string{"outboundcalleridnumber", "emergencycalleridnumber", "deviceaddress", "devicevendor", "devicetemplate"},
		minMarkers: 1,
		needAll:    []string{"extension", "firstname"},
		required:   [][]string{{"extension"}},
		rules: map[string]rule{
			"extension":               feed(tExtension),
			"firstname":               feed(tFirstName),
			"lastname":                feed(tLastName),
			"email":                   feed(tEmail),
			"outboundcalleridnumber":  feed(tCallerID),
			"deviceaddress":           feed(tMAC),
			"devicevendor":            feed(tVendor),
			"devicetemplate":          feed(tTemplate),
			"emergencycalleridnumber": ignore("emergency caller ID: set on the trunk here"),
			"description":             ignore("the extension's description"),
		},
		other: "FS PBX setting with no equivalent here",
	}
}

func switchvox() *Profile {
	return &Profile{
		ID: "switchvox-extensions", Peer: "Switchvox", File: "extensions export/import", Version: 1, Kind: KindUsers,
		Source:     "Sangoma Switchvox docs, Manage Import Extensions (ext, fname, lname, email, title, location, password, voicemail_password, phone_password, digium_phone_mac_address)",
		markers:    []string{"fname", "lname", "phonepassword", "voicemailpassword", "digiumphonemacaddress", "loginemail", "title", "location"},
		minMarkers: 2,
		required:   [][]string{{"ext"}},
		rules: map[string]rule{
			"ext":                   feed(tExtension),
			"fname":                 feed(tFirstName),
			"lname":                 feed(tLastName),
			"email":                 feed(tEmail),
			"loginemail":            feed(tEmail),
			"digiumphonemacaddress": feed(tMAC),
			"phonepassword":         feed(tSIPSecret),
			"voicemailpassword":     feed(tPIN),
			"password":              feed(tPortalPassword),
			"title":                 ignore("job title: no equivalent here"),
			"location":              ignore("location: no equivalent here"),
			"username":              ignore("LDAP username: the portal login here is made from the extension"),
		},
		other: "Switchvox setting with no equivalent here",
	}
}

func vodia() *Profile {
	return &Profile{
		ID: "vodia-accounts", Peer: "Vodia", File: "account CSV (';'-separated, '#' header)", Version: 1, Kind: KindUsers,
		Source:     "https://doc.vodia.com/docs/csv (#alias;first_name;last_name;position;cell;email;mac;mb_pin;web_pass;password)",
		hashHeader: true,
		needAll:    []string{"alias"},
		markers:    []string{"mbpin", "webpass", "cell", "position", "firstname", "lastname"},
		minMarkers: 3,
		required:   [][]string{{"alias"}},
		rules: map[string]rule{
			"alias":     feed(tAliases),
			"firstname": feed(tFirstName),
			"lastname":  feed(tLastName),
			"email":     feed(tEmail),
			"cell":      feed(tMobile),
			"mac":       feed(tMAC),
			"type":      feed(tTech),
			"password":  feed(tSIPSecret),
			"mbpin":     feed(tPIN),
			"webpass":   feed(tPortalPassword),
			"position":  ignore("job title: no equivalent here"),
		},
		other:    "Vodia account setting with no equivalent here",
		sipTechs: []string{"extension", "ext"},
		techWhat: "account type",
	}
}

func yeastar() *Profile {
	return &Profile{
		ID: "yeastar-pseries-extensions", Peer: "Yeastar P-Series", File: "extensions export/import", Version: 1, Kind: KindUsers,
		Source: "https://help.yeastar.com/en/p-series-cloud-edition/administrator-guide/import-and-export-parameters-extension.html",
		markers: []string{"registrationname", "registrationpassword", "userpassword", "organization", "concurrentregistrations",
			"voicemailaccesspin", "userrole"},
		minMarkers: 1,
		needAll:    []string{"extensionnumber"},
		required:   [][]string{{"Extension Number"}},
		rules: map[string]rule{
			"extensionnumber":      feed(tExtension),
			"firstname":            feed(tFirstName),
			"lastname":             feed(tLastName),
			"emailaddress":         feed(tEmail),
			"mobilenumber":         feed(tMobile),
			"organization":         feed(tDepartment),
			"registrationpassword": feed(tSIPSecret),
			"voicemailaccesspin":   feed(tPIN),
			"userpassword":         feed(tPortalPassword),
			"registrationname":     ignore("SIP registration name: the SIP user here is generated"),
			"callerid":             ignore("internal caller ID (the extension by default): the extension here"),
			"enablevoicemail":      ignore("every user here has a mailbox"),
		},
		other: "Yeastar setting with no equivalent here",
	}
}
