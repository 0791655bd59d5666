package reliability

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/welcome"
)

// mixChecks is how many random fault mixes one run tries: each costs two
// pipeline runs (clean and faulted), 1–9 s on the 2-core machine (the
// SDK's and the store's back-off on throttling is real).
// -rapid.checks or RAPID_CHECKS still override it.
const mixChecks = 20

// Pool sizes: few enough DIDs and MACs that rows of one file collide.
const (
	didPool = 4
	macPool = 4
)

// mixRow is one generated CSV row: pool indexes instead of concrete DIDs
// and MACs, so the same file can be written for two tenants.
type mixRow struct {
	DID, MAC int // pool index, -1 for none
}

// mixFault is one fault of a mix. Its String is what rapid logs.
type mixFault struct {
	Kind   string // crash, dynamo-throttle, s3-put-500, ses-throttle, duplicate-events
	Step   string // crash: step key
	Point  crashPoint
	Op     string // crash-during: operation; dynamo-throttle: operation
	After  int    // crash-during: successful calls before the cut
	Bucket string // s3-put-500: "provisioning" or "jobs"
	Commit bool   // s3-put-500: the write happened, the answer is lost
	Times  int
}

func (f mixFault) String() string {
	switch f.Kind {
	case "crash":
		s := fmt.Sprintf("crash %s %s x%d", strings.TrimSuffix(f.Step, "FunctionArn"), f.Point, f.Times)
		if f.Point == crashDuring {
			s += fmt.Sprintf(" after %d %s", f.After, f.Op)
		}
		return s
	case "dynamo-throttle":
		return fmt.Sprintf("dynamo-throttle %s x%d", f.Op, f.Times)
	case "s3-put-500":
		return fmt.Sprintf("s3-put-500 %s commit=%v x%d", f.Bucket, f.Commit, f.Times)
	default:
		return fmt.Sprintf("%s x%d", f.Kind, f.Times)
	}
}

// sideEffectOp is the operation each step's side effects go through.
func sideEffectOp(step string) string {
	switch step {
	case stepRecords:
		return "TransactWriteItems"
	case stepWelcome:
		return "SendEmail"
	default: // write-provisioning, finalize
		return "PutObject"
	}
}

// faultGen draws one fault. Counts stay within what the pipeline is built
// to absorb (ASL Retry: 2 more attempts per step; SDK: 3 attempts; ingest:
// Lambda's 2 async retries), so every mix must end like the clean run.
func faultGen() *rapid.Generator[mixFault] {
	return rapid.Custom(func(t *rapid.T) mixFault {
		switch kind := rapid.SampledFrom([]string{"crash", "dynamo-throttle", "s3-put-500", "ses-throttle", "duplicate-events"}).Draw(t, "kind"); kind {
		case "crash":
			step := rapid.SampledFrom([]string{stepRecords, stepProvisioning, stepWelcome, stepFinalize}).Draw(t, "step")
			f := mixFault{
				Kind: kind, Step: step,
				Point: rapid.SampledFrom([]crashPoint{panicBefore, panicAfter, timeoutBefore, timeoutAfter, crashDuring}).Draw(t, "point"),
				Times: rapid.IntRange(1, 2).Draw(t, "times"),
			}
			if f.Point == crashDuring {
				f.Op, f.After = sideEffectOp(step), rapid.IntRange(1, 2).Draw(t, "after")
			}
			return f
		case "dynamo-throttle":
			op := rapid.SampledFrom([]string{"TransactWriteItems", "GetItem", "BatchGetItem"}).Draw(t, "op")
			most := 3 // reads: one ingest attempt's worth, Lambda retries it
			if op == "TransactWriteItems" {
				most = 6 // store.WriteRows backs off on its own
			}
			return mixFault{Kind: kind, Op: op, Times: rapid.IntRange(1, most).Draw(t, "times")}
		case "s3-put-500":
			return mixFault{
				Kind: kind, Bucket: rapid.SampledFrom([]string{"provisioning", "jobs"}).Draw(t, "bucket"),
				Commit: rapid.Bool().Draw(t, "commit"), Times: rapid.IntRange(1, 2).Draw(t, "times"),
			}
		case "ses-throttle":
			return mixFault{Kind: kind, Times: rapid.IntRange(1, 4).Draw(t, "times")}
		default:
			return mixFault{Kind: kind, Times: rapid.IntRange(1, 3).Draw(t, "times")}
		}
	})
}

// target is what a fault spends the pipeline's retries on: two faults on
// one target would add up beyond them (two x2 PUT failures on the
// provisioning bucket are four in a row, more than the SDK's 3 attempts).
func (f mixFault) target() string {
	switch f.Kind {
	case "crash":
		return f.Kind + " " + f.Step
	case "dynamo-throttle":
		return f.Kind + " " + f.Op
	case "s3-put-500":
		return f.Kind + " " + f.Bucket
	default:
		return f.Kind
	}
}

// surfaces reports whether the fault outlasts the SDK's 3 attempts, so
// the invocation it hits fails once (ingest is then retried by Lambda, a
// step by the ASL).
func (f mixFault) surfaces() bool {
	return (f.Kind == "dynamo-throttle" && f.Op != "TransactWriteItems" && f.Times >= 3) ||
		(f.Kind == "ses-throttle" && f.Times >= 4)
}

// mixGen draws 1–4 faults on distinct targets. A step gets 2 retries: when
// a service fault may already fail one invocation, crashes hit once.
func mixGen() *rapid.Generator[[]mixFault] {
	return rapid.Custom(func(t *rapid.T) []mixFault {
		mix := rapid.SliceOfNDistinct(faultGen(), 1, 4, mixFault.target).Draw(t, "mix")
		if slices.ContainsFunc(mix, mixFault.surfaces) {
			for i := range mix {
				if mix[i].Kind == "crash" {
					mix[i].Times = 1
				}
			}
		}
		return mix
	})
}

// mixEnv turns pool indexes into one tenant's concrete DIDs and MACs,
// unique across tenants and apart from tenantEnv.users' numbers.
type mixEnv struct{ tenantEnv }

func (e mixEnv) did(i int) string {
	return fmt.Sprintf("+1415%03d%04d", 200+e.K%700, 5000+10*(e.K/700)+int64(i))
}

func (e mixEnv) mac(i int) string {
	return fmt.Sprintf("805ec0%06x", 0x800100+e.K*16+int64(i))
}

func (e mixEnv) users(rows []mixRow) []userRow {
	out := make([]userRow, len(rows))
	for i, r := range rows {
		ext := fmt.Sprint(200 + i)
		u := userRow{Ext: ext, First: firstNames[i%len(firstNames)], Last: "Mix", Email: "u" + ext + "@" + e.Name + ".example"}
		if r.DID >= 0 {
			u.DID = e.did(r.DID)
		}
		if r.MAC >= 0 {
			u.MAC = e.mac(r.MAC)
		}
		out[i] = u
	}
	return out
}

// normalizer names DIDs and MACs by pool index (rows share them) and the
// tenant T.
func (e mixEnv) normalizer() *strings.Replacer {
	var pairs []string
	for i := range didPool {
		pairs = append(pairs, e.did(i), fmt.Sprintf("did%d", i))
	}
	for i := range macPool {
		m := e.mac(i)
		pairs = append(pairs, m, fmt.Sprintf("mac%d", i), strings.ToUpper(m), fmt.Sprintf("MAC%d", i))
	}
	return strings.NewReplacer(append(pairs, e.Name, "T")...)
}

// observeMix is harness.observe with the pool normalizer.
func (h *harness) observeMix(t *testing.T, env mixEnv, key string) *observed {
	t.Helper()
	norm := env.normalizer()
	o := &observed{ReportCodes: map[int]string{}, Emails: map[string]int{}}
	jobs := h.jobs(t, env.Name, key)
	for _, j := range jobs {
		o.JobStatuses = append(o.JobStatuses, j.Status)
	}
	if len(jobs) == 1 && jobs[0].Status != jobmodel.Running {
		o.Report, o.ReportCodes = h.report(t, env.Name, jobs[0].ID, norm)
	}
	o.Items = h.items(t, env.Name, norm)
	o.Files = h.files(t, env.Name, norm)
	for rcpt, n := range h.emailsTo(t, env.Name) {
		o.Emails[norm.Replace(rcpt)] = n
	}
	return o
}

// stackWide reports whether the mix has faults that hit every tenant
// (the SES and S3 event hooks): then the clean run cannot overlap it.
func stackWide(mix []mixFault) bool {
	return slices.ContainsFunc(mix, func(f mixFault) bool {
		return f.Kind == "ses-throttle" || f.Kind == "duplicate-events"
	})
}

// startMix arms the faults for env and uploads its file; the returned func
// disarms them once the pipeline has settled.
func (h *harness) startMix(t *testing.T, env mixEnv, rows []mixRow, mix []mixFault) (key string, disarm func()) {
	t.Helper()
	var crashes []crashRule
	var https []httpFault
	for _, f := range mix {
		switch f.Kind {
		case "crash":
			crashes = append(crashes, crashRule{Tenant: env.Name, Step: f.Step, Point: f.Point, Times: f.Times, Op: f.Op, After: f.After})
		case "dynamo-throttle":
			https = append(https, dynamoThrottle(env.Name, f.Op, f.Times))
		case "s3-put-500":
			bucket := h.p.Stack.ProvisioningBucket
			if f.Bucket == "jobs" {
				bucket = h.p.Stack.JobsBucket
			}
			https = append(https, s3InternalError(env.Name, bucket, f.Times, f.Commit))
		case "ses-throttle":
			h.p.Stack.SES().Throttle(f.Times)
		case "duplicate-events":
			h.p.Stack.DuplicateDeliveries(f.Times)
		}
	}
	disarmRules := h.faults.arm(crashes, https)
	key = jobfiles.UploadPrefix(env.Name) + "users.csv"
	h.put(t, key, csvOf(env.users(rows)), stdMeta())
	return key, func() {
		disarmRules()
		h.p.Stack.DuplicateDeliveries(0)
		h.p.Stack.SES().Throttle(0)
	}
}

// checker is what the invariant checks need of *testing.T and *rapid.T.
type checker interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// TestRandomFaultMix draws small files whose rows share a few DIDs and
// MACs, and a random mix of crashes and service faults, and compares each
// faulted run with a clean run of the same file on another fresh tenant.
// A failure prints the seed to replay it (-rapid.seed=N).
func TestRandomFaultMix(t *testing.T) {
	setDefaultChecks(t, mixChecks)
	var fired atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		rows := rapid.SliceOfN(rapid.Custom(func(t *rapid.T) mixRow {
			return mixRow{
				DID: rapid.IntRange(-1, didPool-1).Draw(t, "did"),
				MAC: rapid.IntRange(-1, macPool-1).Draw(t, "mac"),
			}
		}), 3, 20).Draw(rt, "rows")
		mix := mixGen().Draw(rt, "faults")

		cleanEnv := mixEnv{suite.newTenant(t, "mixc", nil)}
		env := mixEnv{suite.newTenant(t, "mix", nil)}
		// Faults are scoped to env's tenant, so both runs share the
		// pipeline unless a fault hits every tenant.
		cleanKey, _ := suite.startMix(t, cleanEnv, rows, nil)
		if stackWide(mix) {
			suite.settle(t)
		}
		key, disarm := suite.startMix(t, env, rows, mix)
		suite.settle(t)
		disarm()
		fired.Add(int64(suite.faults.fired(env.Name)))

		clean := suite.observeMix(t, cleanEnv, cleanKey)
		checkMixRun(rt, clean, rows)
		got := suite.observeMix(t, env, key)
		checkMixRun(rt, got, rows)
		compareMix(rt, got, clean, atMostOnceEmails(mix))
	})
	// A mix may miss (no MAC row to provision, a second crash the first
	// one's retry never reaches), but the whole run must have hit.
	if fired.Load() == 0 {
		t.Fatal("no injected fault fired in any check: the test tests nothing")
	}
}

// setDefaultChecks sets rapid's number of checks unless the command line
// or RAPID_CHECKS chose one.
func setDefaultChecks(t *testing.T, n int) {
	t.Helper()
	if _, ok := os.LookupEnv("RAPID_CHECKS"); ok {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if set {
		return
	}
	old := flag.Lookup("rapid.checks").Value.String()
	if err := flag.Set("rapid.checks", fmt.Sprint(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("rapid.checks", old) })
}

// atMostOnceEmails: a cut during SendEmail leaves that chunk's emails
// uncertain (reported email_uncertain, never resent).
func atMostOnceEmails(mix []mixFault) bool {
	return slices.ContainsFunc(mix, func(f mixFault) bool {
		return f.Kind == "crash" && f.Step == stepWelcome && f.Point == crashDuring
	})
}

// checkMixRun asserts the invariants every run must hold on its own: one
// job in a final status, every CSV line once in the report, nobody emailed
// twice, no half rows.
func checkMixRun(t checker, o *observed, rows []mixRow) {
	t.Helper()
	if len(o.JobStatuses) != 1 {
		t.Fatalf("jobs = %v, want exactly one", o.JobStatuses)
	}
	switch s := o.JobStatuses[0]; s {
	case jobmodel.Done, jobmodel.Partial, jobmodel.Failed, jobmodel.Rejected:
	default:
		t.Fatalf("job status %s is not final", s)
	}
	seen := map[string]int{}
	for _, l := range o.Report {
		line, _, _ := strings.Cut(l, ",")
		seen[line]++
	}
	for i := range rows {
		if n := seen[fmt.Sprint(i+2)]; n != 1 {
			t.Errorf("report has line %d %d times, want once", i+2, n)
		}
	}
	if len(o.Report) != len(rows) {
		t.Errorf("report has %d rows, want %d", len(o.Report), len(rows))
	}
	for r, n := range o.Emails {
		if n > 1 {
			t.Errorf("%s received %d welcome emails", r, n)
		}
	}
	checkNoHalfMixRows(t, o, rows)
}

// checkNoHalfMixRows: a row's EXT# item (user, extension, mailbox,
// endpoint, contact) never exists without its SECRET (and DID with its route,
// owners when it has them), no row record exists without it, and no shared DID or MAC record is
// left without a created row that uses it.
func checkNoHalfMixRows(t checker, o *observed, rows []mixRow) {
	t.Helper()
	have := map[string]bool{}
	for _, it := range o.Items {
		pk, rest, _ := strings.Cut(it, "|")
		sk, _, _ := strings.Cut(rest, "|")
		have[pk+"|"+sk] = true
	}
	usedDID, usedMAC := map[int]bool{}, map[int]bool{}
	for i, r := range rows {
		ext := fmt.Sprint(200 + i)
		own := []string{"TENANT#T|SECRET#" + ext + "-T"}
		if !have["TENANT#T|EXT#"+ext] {
			for _, k := range own {
				if have[k] {
					t.Errorf("orphan: %s without its EXT# item (line %d)", k, i+2)
				}
			}
			continue
		}
		want := own
		if r.DID >= 0 {
			usedDID[r.DID] = true
			d := fmt.Sprintf("did%d", r.DID)
			want = append(want, "DID#"+d+"|OWNER")
		}
		if r.MAC >= 0 {
			usedMAC[r.MAC] = true
			want = append(want, fmt.Sprintf("MAC#mac%d|OWNER", r.MAC))
		}
		for _, k := range want {
			if !have[k] {
				t.Errorf("half row: line %d has its EXT# item but not %s", i+2, k)
			}
		}
	}
	for i := range didPool {
		d := fmt.Sprintf("did%d", i)
		for _, k := range []string{"DID#" + d + "|OWNER"} {
			if have[k] && !usedDID[i] {
				t.Errorf("orphan: %s but no created row has that DID", k)
			}
		}
	}
	for i := range macPool {
		if k := fmt.Sprintf("MAC#mac%d|OWNER", i); have[k] && !usedMAC[i] {
			t.Errorf("orphan: %s but no created row has that MAC", k)
		}
	}
}

// compareMix asserts the faulted run left what the clean run left: job
// status, report, records, provisioning files, recipients. With emails
// at most once, the uncertain rows may differ (email_uncertain, at most
// one chunk); everything else must not.
func compareMix(t checker, got, clean *observed, emailsAtMostOnce bool) {
	t.Helper()
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
		if d := diff(keys(got.Emails), keys(clean.Emails)); d != "" {
			t.Errorf("recipients differ from the clean run:\n%s", d)
		}
		return
	}
	uncertain := 0
	for line, code := range got.ReportCodes {
		if code == pbx.CodeEmailUncertain && clean.ReportCodes[line] == "" {
			uncertain++
			continue
		}
		if code != clean.ReportCodes[line] {
			t.Errorf("line %d: code %q, clean run %q (only %s may differ)", line, code, clean.ReportCodes[line], pbx.CodeEmailUncertain)
		}
	}
	if uncertain > welcome.DefaultChunkSize {
		t.Errorf("%d emails uncertain, more than one chunk (%d)", uncertain, welcome.DefaultChunkSize)
	}
	for r := range got.Emails {
		if clean.Emails[r] == 0 {
			t.Errorf("%s got an email the clean run did not send", r)
		}
	}
	if len(got.Emails) < len(clean.Emails)-uncertain {
		t.Errorf("%d recipients got email; clean run %d, uncertain %d", len(got.Emails), len(clean.Emails), uncertain)
	}
	notEmail := func(items []string) []string {
		return slices.DeleteFunc(slices.Clone(items), func(it string) bool {
			return strings.Contains(it, "EMAIL#") || strings.Contains(it, "SECRET#")
		})
	}
	if d := diff(notEmail(got.Items), notEmail(clean.Items)); d != "" {
		t.Errorf("records differ from the clean run:\n%s", d)
	}
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
