package portal

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/bulkprov/bulkprov/internal/store"
)

// BudgetSpender spends a tenant's request budgets; *store.Store satisfies
// it (a counter item per tenant and window, shared by every instance).
type BudgetSpender interface {
	Spend(ctx context.Context, tenant string, b store.Budget, now time.Time, rows int64) error
}

// Default per-tenant budgets (issue #17). The API budget is every call of
// one tenant, whatever the user; the validate budget bounds what one tenant
// can have checked against stored data: a person editing a file validates
// it a few times, a script enumerating numbers needs far more.
var (
	DefaultAPIBudget      = store.Budget{Name: "api", Window: time.Minute, Requests: 300}
	DefaultValidateBudget = store.Budget{Name: "validate", Window: time.Hour, Requests: 120, Rows: 200_000}
)

// spend takes from one of the tenant's budgets; a spent budget is a 429
// with Retry-After.
func (h *Handler) spend(ctx context.Context, tenant string, b store.Budget, rows int64) error {
	if h.deps.Budget == nil {
		return nil
	}
	err := h.deps.Budget.Spend(ctx, tenant, b, h.cfg.Now(), rows)
	var ex *store.BudgetExceeded
	if errors.As(err, &ex) {
		e := errorf(http.StatusTooManyRequests, codeRateLimited, "%s", ex.Error())
		e.retryAfter = int(math.Ceil(ex.RetryAfter.Seconds()))
		return e
	}
	return err
}

// csvRows estimates a CSV body's data rows for the validate budget: its
// line breaks, less the header.
func csvRows(body []byte) int64 {
	n := int64(bytes.Count(body, []byte{'\n'}))
	if len(body) > 0 && body[len(body)-1] != '\n' {
		n++
	}
	return max(n-1, 0)
}

func retryAfterHeader(seconds int) string { return strconv.Itoa(max(seconds, 1)) }
