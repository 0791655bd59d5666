package lambdaenv

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestRequireNamesTheMissingVariable(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "bulkprov", "JOBS_BUCKET": "jobs"}
	r := ResourcesFromEnv(func(k string) string { return env[k] })
	if err := r.Require("TABLE_NAME", "JOBS_BUCKET"); err != nil {
		t.Fatal(err)
	}
	err := r.Require("TABLE_NAME", "KMS_KEY_ID")
	if err == nil || !strings.Contains(err.Error(), "KMS_KEY_ID") {
		t.Fatalf("Require = %v, want an error naming KMS_KEY_ID", err)
	}
	if err := r.Require("NOPE"); err == nil {
		t.Fatal("Require accepted an unknown resource name")
	}
}

func TestLoggerLevel(t *testing.T) {
	for env, want := range map[string]slog.Level{"": slog.LevelInfo, "DEBUG": slog.LevelDebug, "WARN": slog.LevelWarn, "bogus": slog.LevelInfo} {
		l := Logger(func(string) string { return env })
		if !l.Enabled(context.Background(), want) || (want > slog.LevelDebug && l.Enabled(context.Background(), want-4)) {
			t.Errorf("AWS_LAMBDA_LOG_LEVEL=%q: logger level is not %v", env, want)
		}
	}
}

// TestBuild: a missing resource stops the start-up before build runs;
// otherwise build gets the resources, the function's own variables, the
// shared logger and the endpoint overrides, and its error is returned.
func TestBuild(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	env := map[string]string{"TABLE_NAME": "bulkprov", "JOBS_BUCKET": "bulkprov-jobs", "API_BASE_PATH": "/api"}
	getenv := func(k string) string { return env[k] }
	log := slog.New(slog.DiscardHandler)
	called := false
	_, err := Build(context.Background(), log, getenv, []string{"TABLE_NAME", "KMS_KEY_ID"}, func(Env) (int, error) {
		called = true
		return 1, nil
	})
	if err == nil || !strings.Contains(err.Error(), "KMS_KEY_ID") || called {
		t.Fatalf("Build without KMS_KEY_ID = %v (build called: %v), want an error naming it and no build", err, called)
	}
	got, err := Build(context.Background(), log, getenv, []string{"TABLE_NAME", "JOBS_BUCKET"}, func(e Env) (Env, error) { return e, nil })
	if err != nil {
		t.Fatal(err)
	}
	if got.Table != "bulkprov" || got.JobsBucket != "bulkprov-jobs" || got.Getenv("API_BASE_PATH") != "/api" || got.Log != log ||
		got.Endpoints.DynamoDB != "http://127.0.0.1:1" || got.AWS.Region != "us-east-1" {
		t.Fatalf("build got %+v", got)
	}
	boom := errors.New("boom")
	if _, err := Build(context.Background(), log, getenv, nil, func(Env) (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("Build = %v, want build's error", err)
	}
}
