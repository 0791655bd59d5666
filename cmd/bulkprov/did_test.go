package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/store"
)

// TestDIDCommands manages a kept state's inventory with `bulkprov did`:
// a free range, two numbers assigned to beta, beta's policy, the listing.
func TestDIDCommands(t *testing.T) {
	state := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := dispatch(context.Background(), append([]string{"did"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := run("add", "--state", state, "+14155550100-+14155550109"); code != exitOK {
		t.Fatalf("add: %d %s", code, stderr)
	}
	if code, _, stderr := run("assign", "--state", state, "--tenant", "beta", "+14155550100", "+14155550101", "+12024561111"); code != exitFailed || !strings.Contains(stderr, "+12024561111") {
		t.Errorf("assign with a number outside the inventory: %d %s", code, stderr)
	}
	if code, out, stderr := run("allow", "--state", state, "--tenant", "beta", "--claim-free=true", "--caller-ids", "+18005550100"); code != exitOK || !strings.Contains(out, `"claim_free":true`) {
		t.Errorf("allow: %d %s %s", code, out, stderr)
	}
	code, out, stderr := run("list", "--state", state, "--tenant", "beta", "--json")
	var list []store.InventoryDID
	if err := json.Unmarshal([]byte(out), &list); code != exitOK || err != nil || len(list) != 2 || list[0].Number != "+14155550100" {
		t.Errorf("list beta: %d %s %s", code, out, stderr)
	}
	// Usage errors need no stack.
	for _, args := range [][]string{
		{"add", "--state", state, "911"},
		{"add", "--state", state, "+14155550000-+14155570000"},
		{"allow", "--state", state, "--tenant", "beta", "--caller-ids", "911"},
		{"assign", "--state", state, "+14155550100"},
		{"list"},
		{"steal", "--state", state},
	} {
		if code, _, _ := run(args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
