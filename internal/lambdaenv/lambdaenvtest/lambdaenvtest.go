// Package lambdaenvtest checks a Lambda function's wiring in its
// main_test.go; only tests import it, so no binary links testing.
package lambdaenvtest

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/lambdaenv"
)

// Wire checks that the function requires exactly the resources named in
// resources (it refuses to start without each one, naming it) and returns
// its handler built from resources and settings (the function's own
// optional variables). The AWS endpoints point at a closed port: building
// must call no service.
func Wire[H any](t *testing.T, resources, settings map[string]string, required []string, build lambdaenv.BuildFunc[H]) H {
	t.Helper()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	env := maps.Clone(settings)
	if env == nil {
		env = map[string]string{}
	}
	maps.Copy(env, resources)
	names := slices.Sorted(maps.Keys(resources))
	if want := slices.Sorted(slices.Values(required)); !slices.Equal(names, want) {
		t.Fatalf("the function requires %v, want %v", want, names)
	}
	for _, missing := range names {
		get := func(k string) string {
			if k == missing {
				return ""
			}
			return env[k]
		}
		if _, err := lambdaenv.Build(ctx, log, get, required, build); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("built without %s: %v, want an error naming it", missing, err)
		}
	}
	h, err := lambdaenv.Build(ctx, log, func(k string) string { return env[k] }, required, build)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
