package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/bulkprov/bulkprov/internal/lambdaenv/lambdaenvtest"
	"github.com/bulkprov/bulkprov/internal/portal"
)

func TestNewHandlerNeedsItsEnvironment(t *testing.T) {
	resources := map[string]string{"TABLE_NAME": "bulkprov", "UPLOADS_BUCKET": "bulkprov-uploads", "JOBS_BUCKET": "bulkprov-jobs", "KMS_KEY_ID": "alias/bulkprov"}
	h := lambdaenvtest.Wire(t, resources, map[string]string{"API_BASE_PATH": "/api"}, required, newHandler)

	// Routing answers before any service is called: a route's path under
	// API_BASE_PATH with another method is 405, outside it 404.
	var path string
	for _, r := range portal.Routes() {
		if !strings.Contains(r.Path, "{") {
			path = r.Path
			break
		}
	}
	for p, want := range map[string]int{"/api" + path: http.StatusMethodNotAllowed, path: http.StatusNotFound} {
		ev := events.APIGatewayV2HTTPRequest{RawPath: p}
		ev.RequestContext.HTTP.Method = "TRACE"
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{portal.TenantClaim: "acme"}},
		}
		resp, err := h.Handle(context.Background(), ev)
		if err != nil || resp.StatusCode != want {
			t.Errorf("TRACE %s = %d, %v; want %d", p, resp.StatusCode, err, want)
		}
	}
}
