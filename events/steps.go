// Package events defines the payloads that cross a boundary: the workflow's
// execution input and each step's input and output. They carry keys and
// counts, never secrets, and stay far below Step Functions' 256 KiB limit.
// testdata/ holds a golden example of each, checked by the tests.
package events

import "github.com/bulkprov/bulkprov/internal/pbx"

// Row statuses in step results and the report.
const (
	StatusCreated = "created"
	StatusUpdated = "updated"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
	StatusInvalid = "invalid" // rejected by ingest validation
	StatusHeld    = "held"    // valid, but held back by all-or-nothing or dry-run
)

// Email statuses per row.
const (
	EmailSent     = "sent"
	EmailAlready  = "already_sent"
	EmailFailed   = "failed"
	EmailDeferred = "deferred" // welcome=none: send later with bulkprov send-welcome
	EmailHeld     = "held"     // a daily quota is used up (code email_held_quota): bulkprov send-welcome sends it later
	EmailNone     = ""         // no email for this row (failed, skipped, no address)
)

// JobInput is the execution input ingest starts the workflow with; the
// execution name is the job id.
type JobInput struct {
	Tenant     string `json:"tenant"`
	Job        string `json:"job"`
	JobsBucket string `json:"jobs_bucket"`
	RowsKey    string `json:"rows_key"`    // JSONL of pbx.UserRow, in line order
	ResultsKey string `json:"results_key"` // prefix holding one results object per batch
	Welcome    string `json:"welcome"`     // invite | password | none (phase 2 is skipped for none)
	Rows       int    `json:"rows"`
	// Map knobs from the tenant's settings, read by the state machine's
	// *Path fields so that the ASL file needs no numeric substitutions.
	BatchSize                  int `json:"batch_size"`
	RecordsConcurrency         int `json:"records_concurrency"`
	WelcomeConcurrency         int `json:"welcome_concurrency"`
	ToleratedFailurePercentage int `json:"tolerated_failure_percentage"`
}

// BatchContext is the Distributed Map's ItemBatcher BatchInput: what every
// batch needs besides its rows.
type BatchContext struct {
	Tenant     string `json:"tenant"`
	Job        string `json:"job"`
	JobsBucket string `json:"jobs_bucket"`
	ResultsKey string `json:"results_key"`
}

// RecordsBatch is create-records' input: the ItemBatcher's batch.
type RecordsBatch struct {
	BatchInput BatchContext  `json:"BatchInput"`
	Items      []pbx.UserRow `json:"Items"`
}

// RowResult is one row's outcome, accumulated by the steps in the batch's
// results object.
type RowResult struct {
	Line             int      `json:"line"`
	Extension        string   `json:"extension"`
	Name             string   `json:"name,omitempty"`     // display name, for the email and the report
	User             string   `json:"user,omitempty"`     // portal user name
	SIPUser          string   `json:"sip_user,omitempty"` // endpoint user name
	Email            string   `json:"email,omitempty"`
	DID              string   `json:"did,omitempty"`
	MAC              string   `json:"mac,omitempty"`
	PhoneModel       string   `json:"phone_model,omitempty"` // the device model, when the row has a MAC
	Status           string   `json:"status"`
	Code             string   `json:"code,omitempty"`
	Message          string   `json:"message,omitempty"`
	Warnings         []string `json:"warnings,omitempty"`
	ProvisioningFile string   `json:"provisioning_file,omitempty"` // key in the provisioning bucket
	EmailStatus      string   `json:"email_status,omitempty"`
	EmailMessageID   string   `json:"email_message_id,omitempty"`
}

// BatchResult is a batch's results object (in the jobs bucket under
// JobInput.ResultsKey) and, without the rows, the steps' output.
type BatchResult struct {
	Tenant     string      `json:"tenant"`
	Job        string      `json:"job"`
	Batch      string      `json:"batch"` // "b" + first line, zero-padded: b000002
	JobsBucket string      `json:"jobs_bucket"`
	ResultKey  string      `json:"result_key"` // where the rows below are stored
	Rows       []RowResult `json:"rows,omitempty"`
}

// WelcomeInput is send-welcome's input: one item of phase 2's Distributed
// Map over the results prefix (S3 ListObjectsV2 items carry Key) plus the
// job context given by ItemSelector.
type WelcomeInput struct {
	Tenant      string `json:"tenant"`
	Job         string `json:"job"`
	JobsBucket  string `json:"jobs_bucket"`
	Key         string `json:"key"`         // a batch results object
	Concurrency int    `json:"concurrency"` // phase 2 MaxConcurrency: each worker takes its share of the send rate
}

// WelcomeOutput is send-welcome's output for one batch: counts only (the
// rows' outcomes are in the object at EmailKey, which finalize reads). The
// workflow discards it (OutputPath null); `bulkprov send-welcome --json` and
// the portal show the totals of a send.
type WelcomeOutput struct {
	Tenant      string `json:"tenant"`
	Job         string `json:"job"`
	Batch       string `json:"batch"`
	EmailKey    string `json:"email_key"`
	Sent        int    `json:"sent"`
	AlreadySent int    `json:"already_sent"`
	Failed      int    `json:"failed"`
	Uncertain   int    `json:"uncertain"` // also counted in Failed
	Deferred    int    `json:"deferred"`
	Held        int    `json:"held"` // by a daily quota (email_held_quota), not failed
}

// Handled is how many rows the run handled: each is counted once, in Sent,
// AlreadySent, Failed, Deferred or Held. 0 for a send limited to one user
// means the user is not in this batch.
func (o WelcomeOutput) Handled() int {
	return o.Sent + o.AlreadySent + o.Failed + o.Deferred + o.Held
}

// FinalizeInput is finalize's input. Phase1Error/Phase2Error carry the
// Map's caught error, when one was caught, for the summary.
type FinalizeInput struct {
	Tenant      string       `json:"tenant"`
	Job         string       `json:"job"`
	JobsBucket  string       `json:"jobs_bucket"`
	Phase1Error *CaughtError `json:"phase1_error,omitempty"`
	Phase2Error *CaughtError `json:"phase2_error,omitempty"`
}

// CaughtError is what a Catch places at its ResultPath.
type CaughtError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// FinalizeOutput is finalize's output: the job's final state.
type FinalizeOutput struct {
	Tenant    string `json:"tenant"`
	Job       string `json:"job"`
	Status    string `json:"status"` // DONE | PARTIAL | FAILED
	ReportKey string `json:"report_key"`
	Counts    Counts `json:"counts"`
}

// Counts summarizes a job's rows by outcome.
type Counts struct {
	Rows         int `json:"rows"`
	Created      int `json:"created"`
	Updated      int `json:"updated"`
	Skipped      int `json:"skipped"`
	Failed       int `json:"failed"`
	Invalid      int `json:"invalid"`
	Held         int `json:"held"`
	EmailsSent   int `json:"emails_sent"`
	EmailsFailed int `json:"emails_failed"`
	EmailsHeld   int `json:"emails_held,omitempty"` // by a daily quota, sent later by bulkprov send-welcome
	Provisioned  int `json:"provisioned"`
}
