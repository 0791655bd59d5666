package pbx

import (
	"testing"
)

func TestParseUploadOptions(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
		want string // JSON override; "" for none
		code string
	}{
		{"none", nil, "", ""},
		{"unrelated metadata ignored", map[string]string{"uploaded-by": "ann"}, "", ""},
		{"all", map[string]string{"on-existing": "update", "create-dids": "yes", "dids-as-caller-id": "1", "welcome": "none", "dry-run": "false"},
			`{"upload":{"create_dids":true,"dids_as_caller_id":true,"dry_run":false,"on_existing":"update","welcome":"none"}}`, ""},
		{"case and space insensitive values", map[string]string{"on-existing": " Skip ", "dry-run": "TRUE"},
			`{"upload":{"dry_run":true,"on_existing":"skip"}}`, ""},
		{"mixed-case key", map[string]string{"Welcome": "password"}, `{"upload":{"welcome":"password"}}`, ""},
		{"bad on-existing", map[string]string{"on-existing": "merge"}, "", CodeBadOption},
		{"bad welcome", map[string]string{"welcome": "later"}, "", CodeBadOption},
		{"bad bool", map[string]string{"create-dids": "maybe"}, "", CodeBadOption},
		{"empty bool", map[string]string{"dry-run": ""}, "", CodeBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUploadOptions(tt.meta)
			if ErrorCode(err) != tt.code || string(got) != tt.want {
				t.Fatalf("ParseUploadOptions = %s, %v; want %s code %q", got, err, tt.want, tt.code)
			}
			if err != nil {
				return
			}
			s, err := Merge(SystemDefaults(), got)
			if err != nil {
				t.Fatalf("Merge(override) = %v", err)
			}
			if tt.name == "all" && (s.Upload != Options{OnExisting: OnExistingUpdate, CreateDIDs: true, DIDsAsCallerID: true, Welcome: WelcomeNone}) {
				t.Errorf("merged options = %+v", s.Upload)
			}
		})
	}
}
