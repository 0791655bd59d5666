// Package jobmodel is the domain model of one upload's processing: the job, its
// statuses and the rule that turns row counts into a final status. It is the
// one source of job statuses: the store persists them, the steps set them,
// and the portal's page reads them from the API (GET /me, job_statuses).
package jobmodel

import (
	"time"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// Job statuses. VALIDATING while ingest reads the file; REJECTED (file
// unusable or no valid row), DRY_RUN and HELD (all-or-nothing) end there;
// RUNNING once the workflow started; DONE, PARTIAL or FAILED from finalize.
const (
	Validating = "VALIDATING"
	Rejected   = "REJECTED"
	DryRun     = "DRY_RUN"
	Held       = "HELD"
	Running    = "RUNNING"
	Done       = "DONE"    // every row created, updated or skipped, every email sent or deferred
	Partial    = "PARTIAL" // some rows done, some failed or invalid
	Failed     = "FAILED"  // no row done
)

// StatusInfo describes one status for people and pages.
type StatusInfo struct {
	Status   string `json:"status"`
	Label    string `json:"label"`    // what the portal shows
	Terminal bool   `json:"terminal"` // the job will not change any more
}

// Statuses lists every job status in the order a job passes through them.
func Statuses() []StatusInfo {
	return []StatusInfo{
		{Validating, "Checking the file", false},
		{Rejected, "Rejected: no row could be used", true},
		{DryRun, "Dry run finished: nothing was created", true},
		{Held, "Held: nothing was created because some rows are invalid", true},
		{Running, "Creating users", false},
		{Done, "Done", true},
		{Partial, "Done, with some rows or emails failed", true},
		{Failed, "Failed", true},
	}
}

// Terminal reports whether status is one a job ends in.
func Terminal(status string) bool {
	for _, s := range Statuses() {
		if s.Status == status {
			return s.Terminal
		}
	}
	return false
}

// Upload identifies the S3 object a job was made from.
type Upload struct {
	Bucket, Key, VersionID, ETag string
}

// Job is one upload's processing.
type Job struct {
	Tenant        string
	ID            string
	Status        string
	Upload        Upload
	Options       pbx.Options
	Counts        events.Counts
	RowsKey       string
	ReportKey     string
	SummaryKey    string
	ValidationKey string
	CreatedAt     time.Time
	StartedAt     time.Time
	FinishedAt    time.Time
	Error         string
}

// FinalStatus is a job's final status for its row counts.
func FinalStatus(c events.Counts) string {
	done := c.Created + c.Updated + c.Skipped
	bad := c.Failed + c.Invalid + c.Held + c.EmailsFailed
	switch {
	case bad == 0:
		return Done
	case done == 0:
		return Failed
	default:
		return Partial
	}
}

// EndedAtIngest reports whether ingest ended the job without a workflow
// (the file was rejected, a dry run, or held all-or-nothing).
func EndedAtIngest(status string) bool {
	switch status {
	case Rejected, DryRun, Held:
		return true
	}
	return false
}
