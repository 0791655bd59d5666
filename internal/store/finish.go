package store

import (
	"context"
	"time"

	"github.com/bulkprov/bulkprov/events"
)

// FinishJobAt is FinishJob with the finish time given by the caller, so a
// repeated finalize writes the same item (and the same summary) again.
func (s *Store) FinishJobAt(ctx context.Context, tenant, id, status string, counts events.Counts, reportKey, summaryKey string, finishedAt time.Time) error {
	return s.updateJob(ctx, tenant, id, map[string]any{
		"Status": status, "Counts": counts, "ReportKey": reportKey, "SummaryKey": summaryKey,
		"FinishedAt": finishedAt.UTC(),
	})
}
