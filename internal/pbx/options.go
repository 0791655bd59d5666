package pbx

import (
	"encoding/json"
	"slices"
	"strings"
)

// Upload option metadata keys (S3 lowercases user metadata keys; the SDK
// strips the x-amz-meta- prefix).
const (
	MetaOnExisting     = "on-existing"
	MetaCreateDIDs     = "create-dids"
	MetaDIDsAsCallerID = "dids-as-caller-id"
	MetaWelcome        = "welcome"
	MetaDryRun         = "dry-run"
	MetaImportSecrets  = "import-secrets"
)

// ParseUploadOptions reads the upload's options from its S3 object metadata
// and returns them as a settings override ({"upload": {...}}) holding only
// the options that were given, for Merge to lay over the tenant's settings.
// Other metadata keys are ignored; an invalid value is an EINVALID-class
// *Error with code CodeBadOption naming the key.
func ParseUploadOptions(meta map[string]string) ([]byte, error) {
	upload := map[string]any{}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic: the first bad key is always the same
	for _, k := range keys {
		v := strings.TrimSpace(meta[k])
		switch strings.ToLower(k) {
		case MetaOnExisting:
			switch o := OnExisting(strings.ToLower(v)); o {
			case OnExistingFail, OnExistingSkip, OnExistingUpdate:
				upload["on_existing"] = o
			default:
				return nil, Errorf(CodeBadOption, MetaOnExisting, "must be fail, skip or update, not %q", truncate(v, 20))
			}
		case MetaWelcome:
			switch w := WelcomeMode(strings.ToLower(v)); w {
			case WelcomeInvite, WelcomePassword, WelcomeNone:
				upload["welcome"] = w
			default:
				return nil, Errorf(CodeBadOption, MetaWelcome, "must be invite, password or none, not %q", truncate(v, 20))
			}
		case MetaCreateDIDs, MetaDIDsAsCallerID, MetaDryRun, MetaImportSecrets:
			b, ok := parseBool(v)
			if !ok {
				return nil, Errorf(CodeBadOption, strings.ToLower(k), "must be true/false, yes/no or 1/0, not %q", truncate(v, 20))
			}
			upload[strings.ReplaceAll(strings.ToLower(k), "-", "_")] = b
		}
	}
	if len(upload) == 0 {
		return nil, nil
	}
	return json.Marshal(map[string]any{"upload": upload})
}

func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "1":
		return true, true
	case "false", "no", "0":
		return false, true
	}
	return false, false
}
