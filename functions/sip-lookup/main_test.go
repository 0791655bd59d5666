package main

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/lambdaenv"
	"github.com/bulkprov/bulkprov/internal/lambdaenv/lambdaenvtest"
)

func TestNewHandlerNeedsItsEnvironment(t *testing.T) {
	resources := map[string]string{"TABLE_NAME": "bulkprov", "KMS_KEY_ID": "alias/bulkprov"}
	settings := map[string]string{
		"SIP_LOOKUP_TOKEN_SHA256": strings.Repeat("ab", 32) + ", " + strings.Repeat("cd", 32),
		"SIP_REALMS":              " pbx.example , ,sip.pbx.example",
	}
	h := lambdaenvtest.Wire(t, resources, settings, required, newHandler)
	if len(h.Tokens) != 2 || h.Logger == nil || h.Resolver == nil || h.Resolver.Dir == nil || h.Resolver.Secrets == nil {
		t.Fatalf("handler not fully wired: %+v", h)
	}
	if want := []string{"pbx.example", "sip.pbx.example"}; !slices.Equal(h.Resolver.Realms, want) {
		t.Errorf("realms = %q, want %q", h.Resolver.Realms, want)
	}

	// A malformed token hash stops the start-up, naming it.
	settings["SIP_LOOKUP_TOKEN_SHA256"] = "not-a-hash"
	env := func(k string) string {
		if v, ok := resources[k]; ok {
			return v
		}
		return settings[k]
	}
	_, err := lambdaenv.Build(context.Background(), slog.New(slog.DiscardHandler), env, required, newHandler)
	if err == nil || !strings.Contains(err.Error(), "not-a-hash") {
		t.Fatalf("start-up with a bad token hash: %v", err)
	}
}
