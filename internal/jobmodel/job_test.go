package jobmodel

import (
	"testing"

	"github.com/bulkprov/bulkprov/events"
)

func TestFinalStatus(t *testing.T) {
	for _, tc := range []struct {
		c    events.Counts
		want string
	}{
		{events.Counts{Rows: 2, Created: 2}, Done},
		{events.Counts{Rows: 2, Created: 1, Skipped: 1}, Done},
		{events.Counts{Rows: 2, Created: 1, Invalid: 1}, Partial},
		{events.Counts{Rows: 2, Created: 2, EmailsFailed: 1}, Partial},
		{events.Counts{Rows: 2, Failed: 2}, Failed},
		{events.Counts{Rows: 1, Invalid: 1}, Failed},
		{events.Counts{}, Done},
	} {
		if got := FinalStatus(tc.c); got != tc.want {
			t.Errorf("FinalStatus(%+v) = %s, want %s", tc.c, got, tc.want)
		}
	}
}

func TestStatusesHaveLabelsAndEndInTerminal(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Statuses() {
		if s.Label == "" || seen[s.Status] {
			t.Errorf("status %q: empty label or listed twice", s.Status)
		}
		seen[s.Status] = true
	}
	for _, s := range []string{Done, Partial, Failed, Rejected, DryRun, Held} {
		if !Terminal(s) {
			t.Errorf("Terminal(%s) = false, want true", s)
		}
	}
	for _, s := range []string{Validating, Running, "NOPE"} {
		if Terminal(s) {
			t.Errorf("Terminal(%s) = true, want false", s)
		}
	}
}
