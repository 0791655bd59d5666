package portal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/finalize"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// stack is the test binary's one local AWS stack (DynamoDB Local takes
// seconds to start); tests keep apart by tenant and job id.
var stack *devstack.Stack

// Tenants seeded for every test: acme is the caller, globex the other
// tenant whose data must stay invisible.
const (
	tenantA = "acme"
	tenantB = "globex"
	// tenantBeta is the hostile tenant of the issue #17 tests.
	tenantBeta = "beta"
)

func TestMain(m *testing.M) {
	os.Exit(testkit.ForTests(m, devstack.Config{}, func(s *devstack.Stack) {
		stack = s
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st := store.New(s.Clients.DynamoDB, s.Table)
		for _, t := range []string{tenantA, tenantB, tenantBeta} {
			if err := st.PutTenant(ctx, pbx.Tenant{Name: t, DisplayName: strings.ToUpper(t)}, pbx.LocalTenantOverrides(t)); err != nil {
				fmt.Fprintln(os.Stderr, "seed tenant:", err)
				os.Exit(1)
			}
		}
		// The operator's free test range, which acme may take numbers from
		// with create-dids (issue #17).
		dids, _ := store.ExpandDIDRange("+14155550100", "+14155550199")
		if _, _, err := st.AddDIDs(ctx, dids, ""); err != nil {
			fmt.Fprintln(os.Stderr, "seed DIDs:", err)
			os.Exit(1)
		}
		if err := st.SetDIDPolicy(ctx, tenantA, store.DIDPolicy{ClaimFree: true}); err != nil {
			fmt.Fprintln(os.Stderr, "seed DID policy:", err)
			os.Exit(1)
		}
		// Uploads in these tests are not meant to run ingest.
		s.SetUploadHandler(func(context.Context, events.S3Event) error { return nil })
	}))
}

func testStore() *store.Store { return store.New(stack.Clients.DynamoDB, stack.Table) }

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	st := testStore()
	return New(Config{
		UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket, KnownPhoneModel: provision.KnownModel,
	}, Deps{Jobs: st, Settings: st, Lookup: st, Presigner: s3.NewPresignClient(stack.Clients.S3), Objects: stack.Clients.S3,
		Tenants: st, Rows: &finalize.Handler{S3: stack.Clients.S3, Jobs: st}, Users: st, Files: stack.Clients.S3})
}

// apiCall describes one request to Handle.
type apiCall struct {
	tenant      string // "" sends no claim; "-" sends no authorizer at all
	method      string
	path        string
	contentType string
	body        string
	base64      bool
	query       map[string]string
}

type apiResult struct {
	status int
	header map[string]string
	body   string
}

func (r apiResult) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, r.body)
	}
}

// errorBody is the API's error shape.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"error"`
}

func (r apiResult) errorCode(t *testing.T) string {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	if e.Error.Message == "" {
		t.Errorf("error response has no message: %s", r.body)
	}
	return e.Error.Code
}

func call(t *testing.T, h *Handler, c apiCall) apiResult {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RawPath:               c.path,
		Headers:               map[string]string{},
		QueryStringParameters: c.query,
		Body:                  c.body,
		IsBase64Encoded:       c.base64,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: c.method, Path: c.path},
		},
	}
	if c.contentType != "" {
		ev.Headers["content-type"] = c.contentType
	}
	if c.tenant != "-" {
		claims := map[string]string{"sub": "user-1"}
		if c.tenant != "" {
			claims[TenantClaim] = c.tenant
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := h.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	body := resp.Body
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(body)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	return apiResult{status: resp.StatusCode, header: resp.Headers, body: body}
}

// putObject writes an object into the local S3 for a test.
func putObject(t *testing.T, bucket, key, body string) {
	t.Helper()
	_, err := stack.Clients.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// get fetches a presigned URL with the headers it needs.
func get(t *testing.T, method, url string, headers map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
