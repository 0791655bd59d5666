package main

import (
	"context"
	"log/slog"
	"testing"
)

func TestNewHandlerNeedsItsEnvironment(t *testing.T) {
	env := map[string]string{"TABLE_NAME": "bulkprov", "JOBS_BUCKET": "bulkprov-jobs", "KMS_KEY_ID": "alias/bulkprov", "AWS_REGION": "us-east-1"}
	for _, missing := range []string{"TABLE_NAME", "JOBS_BUCKET", "KMS_KEY_ID"} {
		get := func(k string) string {
			if k == missing {
				return ""
			}
			return env[k]
		}
		if _, err := newHandler(context.Background(), slog.New(slog.DiscardHandler), get); err == nil {
			t.Errorf("newHandler without %s succeeded", missing)
		}
	}
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // never called here
	h, err := newHandler(context.Background(), slog.New(slog.DiscardHandler), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if h.JobsBucket != "bulkprov-jobs" || h.Store == nil || h.S3 == nil || h.Secrets == nil {
		t.Fatalf("handler not fully wired: %+v", h)
	}
}
