// Package jobfiles owns the layout of the S3 buckets: where uploads land,
// where a job's rows, per-batch results, reports and summaries live, and the
// provisioning bucket's keys. Nothing else builds these keys.
package jobfiles

import (
	"fmt"
	"path"
)

// UploadPrefix is the uploads bucket's folder for a tenant.
func UploadPrefix(tenant string) string { return "tenants/" + tenant + "/" }

// JobPrefix is the jobs bucket's folder for one job.
func JobPrefix(tenant, job string) string { return "jobs/" + tenant + "/" + job + "/" }

// TenantJobsPrefix is the jobs bucket's folder for all of a tenant's jobs.
func TenantJobsPrefix(tenant string) string { return "jobs/" + tenant + "/" }

// RowsKey holds the job's valid rows as JSONL of pbx.UserRow, in line order.
func RowsKey(tenant, job string) string { return JobPrefix(tenant, job) + "rows.jsonl" }

// RejectedKey holds rows ingest did not pass on (invalid, skipped, held) as
// JSONL of events.RowResult, so that the final report accounts for every line.
func RejectedKey(tenant, job string) string { return JobPrefix(tenant, job) + "rejected.jsonl" }

// ValidationJSONKey and ValidationCSVKey hold ingest's validation report.
func ValidationJSONKey(tenant, job string) string { return JobPrefix(tenant, job) + "validation.json" }
func ValidationCSVKey(tenant, job string) string  { return JobPrefix(tenant, job) + "validation.csv" }

// ResultsPrefix holds one events.BatchResult per batch.
func ResultsPrefix(tenant, job string) string { return JobPrefix(tenant, job) + "results/" }

// BatchID names a batch after its first row's line, so a retried batch has
// the same id and results objects sort in line order.
func BatchID(firstLine int) string { return fmt.Sprintf("b%07d", firstLine) }

// ResultKey is one batch's results object.
func ResultKey(tenant, job, batch string) string {
	return ResultsPrefix(tenant, job) + batch + ".json"
}

// EmailsPrefix holds one email outcome object per batch, written in phase 2.
func EmailsPrefix(tenant, job string) string { return JobPrefix(tenant, job) + "emails/" }

// EmailResultKey is a batch's email outcome object.
func EmailResultKey(tenant, job, batch string) string {
	return EmailsPrefix(tenant, job) + batch + ".json"
}

// ReportKey and SummaryKey are finalize's outputs.
func ReportKey(tenant, job string) string  { return JobPrefix(tenant, job) + "report.csv" }
func SummaryKey(tenant, job string) string { return JobPrefix(tenant, job) + "summary.json" }

// ProvisioningKey is a phone's file in the provisioning bucket.
func ProvisioningKey(tenantPath, fileName string) string { return path.Join(tenantPath, fileName) }
