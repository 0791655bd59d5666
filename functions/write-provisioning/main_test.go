package main

import (
	"testing"

	"github.com/bulkprov/bulkprov/internal/lambdaenv/lambdaenvtest"
)

func TestNewHandlerNeedsItsEnvironment(t *testing.T) {
	h := lambdaenvtest.Wire(t, map[string]string{"TABLE_NAME": "bulkprov", "PROVISIONING_BUCKET": "bulkprov-provisioning", "KMS_KEY_ID": "alias/bulkprov", "PROVISIONING_URL": "https://prov.pbx.example"}, nil, required, newHandler)
	if h.ProvisioningBucket != "bulkprov-provisioning" || h.BaseURL == "" || h.S3 == nil || h.Settings == nil || h.Credentials == nil || h.Secrets == nil || h.Renderer == nil {
		t.Fatalf("step not fully wired: %+v", h)
	}
}
