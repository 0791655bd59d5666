package reliability

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// TestCleanRun checks the reference run itself: one DONE job, every row
// created, one email per row, one file per MAC, no half rows.
func TestCleanRun(t *testing.T) {
	c := suite.cleanRun(t)
	rows := tenantEnv{Name: "T"}.users(stdRows)
	if !slices.Equal(c.JobStatuses, []string{jobmodel.Done}) {
		t.Fatalf("clean run jobs = %v, want one DONE", c.JobStatuses)
	}
	checkEveryLineOnce(t, c, stdRows)
	for _, l := range c.Report {
		if !strings.Contains(l, ",created,,") || !strings.HasSuffix(l, ",sent") {
			t.Errorf("clean report line %q: want created, no code, email sent", l)
		}
	}
	if len(c.Emails) != stdRows {
		t.Errorf("clean run emailed %d recipients, want %d", len(c.Emails), stdRows)
	}
	for r, n := range c.Emails {
		if n != 1 {
			t.Errorf("clean run: %s got %d emails", r, n)
		}
	}
	macs := 0
	for _, r := range rows {
		if r.MAC != "" {
			macs++
		}
	}
	if len(c.Files) < macs {
		t.Errorf("clean run wrote %d provisioning files for %d MACs", len(c.Files), macs)
	}
	checkNoHalfRows(t, c, rows)
}

// faultCase is one fault scenario run on the standard file.
type faultCase struct {
	name    string
	crashes []crashRule // Tenant is filled in
	https   []httpFault // Tenant is filled in
	// before runs after arming, before the upload (stack-wide SES hooks).
	before func(t *testing.T, env tenantEnv)
	// emailsAtMostOnce: the fault may leave emails uncertain (reported
	// failed, code email_uncertain, never resent), so the outbox and the
	// report may differ from the clean run's on those rows only.
	emailsAtMostOnce bool
}

// crashMatrix is every crash point of every step.
func crashMatrix() []faultCase {
	steps := []struct {
		key, op string
	}{
		{stepRecords, "TransactWriteItems"},
		{stepProvisioning, "PutObject"},
		{stepWelcome, "SendEmail"},
		{stepFinalize, "PutObject"},
	}
	var cases []faultCase
	for _, s := range steps {
		for _, p := range []crashPoint{panicBefore, panicAfter, timeoutBefore, timeoutAfter, crashDuring} {
			c := faultCase{
				name:    fmt.Sprintf("%s/%s", strings.TrimSuffix(s.key, "FunctionArn"), p),
				crashes: []crashRule{{Step: s.key, Point: p, Times: 1, Op: s.op, After: 1}},
			}
			if s.key == stepWelcome && p == crashDuring {
				c.emailsAtMostOnce = true
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// TestCrashes crashes each step before, during and after its side effects
// once; the workflow's Retry runs it again. The end state must equal the
// clean run's: same records, files, emails and report.
func TestCrashes(t *testing.T) {
	runFaultCases(t, crashMatrix())
}

// TestServiceFaults injects AWS-side faults at the HTTP layer.
func TestServiceFaults(t *testing.T) {
	runFaultCases(t, []faultCase{
		{
			// 6 throttled transactions: more than the SDK's 3 attempts, so
			// store.WriteRows' own back-off must carry the batch through.
			name:  "dynamodb throttle storm",
			https: []httpFault{dynamoThrottle("", "TransactWriteItems", 6)},
		},
		{
			name:  "dynamodb throttling on reads",
			https: []httpFault{dynamoThrottle("", "BatchGetItem", 3), dynamoThrottle("", "GetItem", 3)},
		},
		{
			name:  "s3 provisioning PUT 500 (retried by the SDK)",
			https: []httpFault{s3InternalError("", suite.p.Stack.ProvisioningBucket, 2, false)},
		},
		{
			name:  "s3 provisioning PUT stored but answer lost",
			https: []httpFault{s3InternalError("", suite.p.Stack.ProvisioningBucket, 2, true)},
		},
		{
			name:  "s3 results PUT 500",
			https: []httpFault{s3InternalError("", suite.p.Stack.JobsBucket, 2, false)},
		},
		{
			name:   "ses throttling",
			before: func(t *testing.T, env tenantEnv) { suite.p.Stack.SES().Throttle(4) },
		},
		{
			name:  "crash-during create-records plus throttling",
			https: []httpFault{dynamoThrottle("", "TransactWriteItems", 3)},
			crashes: []crashRule{
				{Step: stepRecords, Point: crashDuring, Times: 1, Op: "TransactWriteItems", After: 1},
				{Step: stepProvisioning, Point: panicAfter, Times: 1},
			},
		},
	})
}

func runFaultCases(t *testing.T, cases []faultCase) {
	clean := suite.cleanRun(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := suite.newTenant(t, "f", nil)
			rows := env.users(stdRows)
			crashes := slices.Clone(tc.crashes)
			for i := range crashes {
				crashes[i].Tenant = env.Name
			}
			https := slices.Clone(tc.https)
			for i := range https {
				https[i].Tenant = env.Name
			}
			disarm := suite.faults.arm(crashes, https)
			defer disarm()
			if tc.before != nil {
				tc.before(t, env)
			}
			key := jobfiles.UploadPrefix(env.Name) + "users.csv"
			suite.put(t, key, csvOf(rows), stdMeta())
			suite.settle(t)
			suite.p.Stack.SES().Throttle(0)
			if (len(crashes) > 0 || len(https) > 0) && suite.faults.fired(env.Name) == 0 {
				t.Fatalf("no fault fired: the case tests nothing")
			}
			got := suite.observe(t, env, rows, key)
			compareWithClean(t, got, clean, rows, tc.emailsAtMostOnce)
		})
	}
}

// compareWithClean asserts the faulted run left what the clean run left.
func compareWithClean(t *testing.T, got, clean *observed, rows []userRow, emailsAtMostOnce bool) {
	t.Helper()
	if len(got.JobStatuses) != 1 {
		t.Fatalf("jobs = %v, want exactly one", got.JobStatuses)
	}
	checkEveryLineOnce(t, got, len(rows))
	checkNoHalfRows(t, got, rows)
	for r, n := range got.Emails {
		if n > 1 {
			t.Errorf("%s received %d welcome emails", r, n)
		}
	}
	if d := diff(got.Files, clean.Files); d != "" {
		t.Errorf("provisioning files differ from the clean run:\n%s", d)
	}
	if !emailsAtMostOnce {
		if !slices.Equal(got.JobStatuses, clean.JobStatuses) {
			t.Errorf("job status %v, clean run %v", got.JobStatuses, clean.JobStatuses)
		}
		if d := diff(got.Report, clean.Report); d != "" {
			t.Errorf("report differs from the clean run:\n%s", d)
		}
		if d := diff(got.Items, clean.Items); d != "" {
			t.Errorf("table differs from the clean run:\n%s", d)
		}
		if len(got.Emails) != len(clean.Emails) {
			t.Errorf("%d recipients got email, clean run %d", len(got.Emails), len(clean.Emails))
		}
		return
	}
	// Emails may be uncertain: those rows are failed with email_uncertain
	// and got at most one message; every other row is as in the clean run.
	uncertain := 0
	for line, code := range got.ReportCodes {
		if code == pbx.CodeEmailUncertain {
			uncertain++
			continue
		}
		if code != "" {
			t.Errorf("line %d: code %q, want none or %s", line, code, pbx.CodeEmailUncertain)
		}
	}
	if uncertain > welcome.DefaultChunkSize {
		t.Errorf("%d emails uncertain, more than one chunk (%d)", uncertain, welcome.DefaultChunkSize)
	}
	if len(got.Emails) < len(clean.Emails)-uncertain {
		t.Errorf("%d recipients got email; clean run %d, uncertain %d", len(got.Emails), len(clean.Emails), uncertain)
	}
	var gotItems, cleanItems []string
	for _, it := range got.Items {
		if !strings.Contains(it, "EMAIL#") && !strings.Contains(it, "SECRET#") {
			gotItems = append(gotItems, it)
		}
	}
	for _, it := range clean.Items {
		if !strings.Contains(it, "EMAIL#") && !strings.Contains(it, "SECRET#") {
			cleanItems = append(cleanItems, it)
		}
	}
	if d := diff(gotItems, cleanItems); d != "" {
		t.Errorf("records differ from the clean run:\n%s", d)
	}
}
