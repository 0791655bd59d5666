package portal

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/store"
)

// TestValidateBudgetPerTenant (issue #17): beta spends its own validate
// budget (rows and requests per window, kept in the table) and is then
// answered 429 with Retry-After; acme's validation is untouched.
func TestValidateBudgetPerTenant(t *testing.T) {
	st := testStore()
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC).Add(time.Duration(time.Now().UnixNano() % int64(time.Hour*24*365))).Truncate(time.Hour)
	h := New(Config{
		UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket, KnownPhoneModel: provision.KnownModel,
		Now:            func() time.Time { return now.Add(10 * time.Minute) },
		ValidateBudget: store.Budget{Name: "validate", Window: time.Hour, Requests: 3, Rows: 10},
		APIBudget:      store.Budget{Name: "api", Window: time.Minute, Requests: 100},
	}, Deps{Jobs: st, Settings: st, Lookup: st, Presigner: s3.NewPresignClient(stack.Clients.S3), Objects: stack.Clients.S3, Budget: st})
	rows := func(n int) string {
		var b strings.Builder
		b.WriteString("extension,first_name\n")
		for i := range n {
			b.WriteString(strconv.Itoa(300+i) + ",Ann\n")
		}
		return b.String()
	}
	validate := func(tenant, body string) apiResult {
		return call(t, h, apiCall{tenant: tenant, method: "POST", path: "/validate", contentType: "text/csv", body: body})
	}
	if r := validate(tenantBeta, rows(6)); r.status != 200 {
		t.Fatalf("beta's first validation: %d %s", r.status, r.body)
	}
	// 6 + 6 rows would exceed 10: refused, nothing spent.
	r := validate(tenantBeta, rows(6))
	if r.status != http.StatusTooManyRequests || r.errorCode(t) != codeRateLimited || r.header["Retry-After"] != "3000" {
		t.Fatalf("beta over its row budget: %d %v %s", r.status, r.header, r.body)
	}
	if r := validate(tenantBeta, rows(4)); r.status != 200 {
		t.Fatalf("beta within its row budget: %d %s", r.status, r.body)
	}
	// A file larger than the whole budget, and a request past the count.
	if r := validate(tenantBeta, rows(11)); r.status != http.StatusTooManyRequests {
		t.Errorf("beta with 11 rows: %d", r.status)
	}
	if r := validate(tenantBeta, rows(0)); r.status != 200 {
		t.Errorf("beta's third request: %d %s", r.status, r.body)
	}
	if r := validate(tenantBeta, rows(0)); r.status != http.StatusTooManyRequests {
		t.Errorf("beta's fourth request: %d", r.status)
	}
	// acme has its own budget.
	if r := validate(tenantA, rows(6)); r.status != 200 {
		t.Errorf("acme after beta spent its budget: %d %s", r.status, r.body)
	}
	// The next window starts afresh.
	now = now.Add(time.Hour)
	if r := validate(tenantBeta, rows(6)); r.status != 200 {
		t.Errorf("beta in the next window: %d %s", r.status, r.body)
	}
}

// TestAPIBudgetPerTenant: every API call of a tenant spends from one
// per-tenant budget, whatever the user or endpoint; others are unaffected.
func TestAPIBudgetPerTenant(t *testing.T) {
	st := testStore()
	now := time.Now().Add(24 * time.Hour).Truncate(time.Minute)
	h := New(Config{
		UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket,
		Now:       func() time.Time { return now },
		APIBudget: store.Budget{Name: "api", Window: time.Minute, Requests: 4},
	}, Deps{Jobs: st, Settings: st, Lookup: st, Presigner: s3.NewPresignClient(stack.Clients.S3), Objects: stack.Clients.S3, Budget: st})
	for i, path := range []string{"/me", "/jobs", "/template", "/me"} {
		if r := call(t, h, apiCall{tenant: tenantBeta, method: "GET", path: path}); r.status != 200 {
			t.Fatalf("beta's call %d (%s): %d %s", i+1, path, r.status, r.body)
		}
	}
	r := call(t, h, apiCall{tenant: tenantBeta, method: "GET", path: "/jobs"})
	if r.status != http.StatusTooManyRequests || r.header["Retry-After"] != "60" {
		t.Errorf("beta's 5th call in a minute: %d %v", r.status, r.header)
	}
	if r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs"}); r.status != 200 {
		t.Errorf("acme's call: %d", r.status)
	}
}
