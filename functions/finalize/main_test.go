package main

import (
	"testing"

	"github.com/bulkprov/bulkprov/internal/lambdaenv/lambdaenvtest"
)

func TestNewHandlerNeedsItsEnvironment(t *testing.T) {
	h := lambdaenvtest.Wire(t, map[string]string{"TABLE_NAME": "bulkprov", "JOBS_BUCKET": "bulkprov-jobs"}, nil, required, newHandler)
	if h.S3 == nil || h.Jobs == nil || h.Logger == nil {
		t.Fatalf("handler not fully wired: %+v", h)
	}
}
