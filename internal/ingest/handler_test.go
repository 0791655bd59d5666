package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// The stack is started by the first test that needs it, so that the pure
// validation tests and benchmarks run without a JVM.
var (
	stackOnce sync.Once
	stack     *devstack.Stack
	stackErr  error
	tenantSeq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stack != nil {
		if err := stack.Close(); err != nil && code == 0 {
			fmt.Fprintln(os.Stderr, "close stack:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func testStack(t *testing.T) *devstack.Stack {
	t.Helper()
	stackOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		stack, stackErr = devstack.Start(ctx, devstack.Config{})
	})
	if stackErr != nil {
		t.Fatalf("devstack: %v", stackErr)
	}
	return stack
}

// newTenant creates a fresh tenant with the local settings plus overrides.
func newTenant(t *testing.T, st *store.Store, overrides string) string {
	t.Helper()
	name := fmt.Sprintf("t%dx%d", time.Now().UnixNano()%1e9, tenantSeq.Add(1))
	settings := pbx.LocalTenantOverrides(name)
	if overrides != "" {
		merged := map[string]any{}
		_ = json.Unmarshal(settings, &merged)
		_ = json.Unmarshal([]byte(overrides), &merged) // top-level keys only
		settings, _ = json.Marshal(merged)
	}
	if err := st.PutTenant(context.Background(), pbx.Tenant{Name: name}, settings); err != nil {
		t.Fatal(err)
	}
	// The example uploads' DIDs are in the operator's free inventory, and
	// the tenant may take free numbers with create-dids (issue #17).
	dids, _ := store.ExpandDIDRange("+14155550100", "+14155550199")
	if _, _, err := st.AddDIDs(context.Background(), dids, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDIDPolicy(context.Background(), name, store.DIDPolicy{ClaimFree: true}); err != nil {
		t.Fatal(err)
	}
	return name
}

// recordingSFN stands in for Step Functions (there is no local SFN
// endpoint yet): it records starts and, like SFN, refuses a second
// execution with the same name.
type recordingSFN struct {
	mu     sync.Mutex
	starts []*sfn.StartExecutionInput
	names  map[string]bool
}

func (r *recordingSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.names == nil {
		r.names = map[string]bool{}
	}
	if r.names[*in.Name] {
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists")}
	}
	r.names[*in.Name] = true
	r.starts = append(r.starts, in)
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String("arn:local:" + *in.Name), StartDate: aws.Time(time.Now())}, nil
}

func (r *recordingSFN) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.starts)
}

type fixture struct {
	stack   *devstack.Stack
	store   *store.Store
	sfn     *recordingSFN
	handler *Handler
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	s := testStack(t)
	f := &fixture{stack: s, store: store.New(s.Clients.DynamoDB, s.Table), sfn: &recordingSFN{}, logs: &syncBuffer{}}
	f.handler = NewHandler(Config{
		JobsBucket:      s.JobsBucket,
		StateMachineARN: "arn:aws:states:us-east-1:000000000000:stateMachine:bulkprov",
		TempDir:         t.TempDir(),
		Logger:          slog.New(slog.NewJSONHandler(f.logs, nil)),
	}, s.Clients.S3, f.store, f.sfn)
	return f
}

// upload puts a CSV into the uploads bucket; the stack delivers the S3
// event to the handler as S3 would.
func (f *fixture) upload(t *testing.T, key, body string, meta map[string]string, duplicates int) {
	t.Helper()
	ctx := context.Background()
	f.stack.SetUploadHandler(f.handler.Handle)
	f.stack.DuplicateDeliveries(duplicates)
	defer f.stack.SetUploadHandler(nil)
	defer f.stack.DuplicateDeliveries(0)
	_, err := f.stack.Clients.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(f.stack.UploadsBucket), Key: aws.String(key), Body: strings.NewReader(body), Metadata: meta,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.stack.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if errs := f.stack.DeliveryErrors(); len(errs) > 0 {
		t.Fatalf("handler errors: %v", errs)
	}
}

func (f *fixture) onlyJob(t *testing.T, tenant string) jobmodel.Job {
	t.Helper()
	jobs, err := f.store.ListJobs(context.Background(), tenant, 0)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs of %s = %+v, %v; want one", tenant, jobs, err)
	}
	return jobs[0]
}

func (f *fixture) object(t *testing.T, key string) (string, bool) {
	t.Helper()
	out, err := f.stack.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(f.stack.JobsBucket), Key: aws.String(key)})
	if err != nil {
		return "", false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func (f *fixture) jobObjects(t *testing.T, tenant string) []string {
	t.Helper()
	out, err := f.stack.Clients.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{
		Bucket: aws.String(f.stack.JobsBucket), Prefix: aws.String(jobfiles.TenantJobsPrefix(tenant)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, strings.TrimPrefix(*o.Key, jobfiles.TenantJobsPrefix(tenant)))
	}
	return keys
}

func jsonLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

func TestHandlerStartsJobOnce(t *testing.T) {
	f := newFixture(t)
	tenant := newTenant(t, f.store, "")
	// A space in the name: S3 events encode it as '+'.
	f.upload(t, "tenants/"+tenant+"/march hires.csv", readExample(t, "with-errors.csv"), nil, 2)

	job := f.onlyJob(t, tenant)
	if job.Status != jobmodel.Running || job.Counts != (events.Counts{Rows: 9, Invalid: 8}) || job.StartedAt.IsZero() {
		t.Errorf("job = %+v", job)
	}
	if job.Upload.Key != "tenants/"+tenant+"/march hires.csv" || job.Upload.Bucket != f.stack.UploadsBucket || job.Options.OnExisting != pbx.OnExistingFail {
		t.Errorf("job upload/options = %+v %+v", job.Upload, job.Options)
	}
	if got := f.sfn.count(); got != 1 {
		t.Fatalf("%d executions started for one upload delivered 3 times, want 1", got)
	}
	start := f.sfn.starts[0]
	var in events.JobInput
	if err := json.Unmarshal([]byte(*start.Input), &in); err != nil {
		t.Fatal(err)
	}
	want := events.JobInput{
		Tenant: tenant, Job: job.ID, JobsBucket: f.stack.JobsBucket,
		RowsKey: jobfiles.RowsKey(tenant, job.ID), ResultsKey: jobfiles.ResultsPrefix(tenant, job.ID),
		Welcome: "invite", Rows: 1, BatchSize: 50, RecordsConcurrency: 4, WelcomeConcurrency: 2, ToleratedFailurePercentage: 10,
	}
	if *start.Name != job.ID || in != want {
		t.Errorf("execution %s input %+v\nwant %s %+v", *start.Name, in, job.ID, want)
	}

	rows, _ := f.object(t, jobfiles.RowsKey(tenant, job.ID))
	if got := jsonLines[pbx.UserRow](t, rows); len(got) != 1 || got[0].Line != 2 || got[0].Extension != "300" {
		t.Errorf("rows.jsonl = %q", rows)
	}
	rejected, _ := f.object(t, jobfiles.RejectedKey(tenant, job.ID))
	var lines []int
	for _, r := range jsonLines[events.RowResult](t, rejected) {
		if r.Status != events.StatusInvalid || r.Code == "" || r.Message == "" {
			t.Errorf("rejected row %+v", r)
		}
		lines = append(lines, r.Line)
	}
	if !slices.Equal(lines, []int{3, 4, 5, 6, 7, 8, 9, 10}) {
		t.Errorf("rejected lines = %v", lines)
	}
	if js, ok := f.object(t, jobfiles.ValidationJSONKey(tenant, job.ID)); !ok || !strings.Contains(js, `"invalid": 8`) {
		t.Errorf("validation.json = %q", js)
	}
	if csv, ok := f.object(t, jobfiles.ValidationCSVKey(tenant, job.ID)); !ok || !strings.HasPrefix(csv, "line,severity,column,code,message\n3,error,email,invalid_email,") {
		t.Errorf("validation.csv = %q", csv)
	}
	if logs := f.logs.String(); !strings.Contains(logs, `"job":"`+job.ID+`"`) || !strings.Contains(logs, `"tenant":"`+tenant+`"`) {
		t.Errorf("logs lack job and tenant: %s", logs)
	}

	// A late duplicate event (e.g. a Lambda retry) finds the job done.
	before := f.jobObjects(t, tenant)
	ev := s3Event(f.stack.UploadsBucket, url.QueryEscape(job.Upload.Key), job.Upload.ETag, "")
	ev.Records[0].S3.Object.VersionID = job.Upload.VersionID
	if err := f.handler.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if f.sfn.count() != 1 || len(f.jobObjects(t, tenant)) != len(before) {
		t.Errorf("late duplicate started or wrote something")
	}
}

func s3Event(bucket, encodedKey, etag, sequencer string) lambdaevents.S3Event {
	var rec lambdaevents.S3EventRecord
	rec.EventName = "ObjectCreated:Put"
	rec.S3.Bucket.Name = bucket
	rec.S3.Object.Key = encodedKey
	rec.S3.Object.ETag = etag
	rec.S3.Object.Sequencer = sequencer
	return lambdaevents.S3Event{Records: []lambdaevents.S3EventRecord{rec}}
}

func TestHandlerRejectsBadKeys(t *testing.T) {
	f := newFixture(t)
	tenant := newTenant(t, f.store, "")
	body := readExample(t, "acme-users.csv")
	// Objects exist under the odd keys too, so that only the key check stops them.
	for _, key := range []string{"tenants/ACME/a.csv", "other/" + tenant + "/a.csv", "tenants/nosuchtenant/a.csv"} {
		if _, err := f.stack.Clients.S3.PutObject(context.Background(), &s3.PutObjectInput{
			Bucket: aws.String(f.stack.UploadsBucket), Key: aws.String(key), Body: strings.NewReader(body),
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, encoded := range []string{
		"tenants/../x.csv",
		"tenants/%2E%2E/x.csv",
		"tenants/ACME/a.csv",
		"tenants/" + tenant + "%2F..%2Fb/x.csv",
		"tenants/acme%2F..%2Fb/x.csv",
		"other/" + tenant + "/a.csv",
		"tenants/" + tenant + "//a.csv",
		"tenants/" + tenant + "/a.txt",
		"tenants/" + tenant + "/a%0D%0Ab.csv",
		"tenants/" + tenant + "/a%ZZ.csv",
		"tenants/nosuchtenant/a.csv",
		"tenants//a.csv",
	} {
		t.Run(encoded, func(t *testing.T) {
			if err := f.handler.Handle(context.Background(), s3Event(f.stack.UploadsBucket, encoded, "abc", "01")); err != nil {
				t.Fatalf("Handle = %v, want nil (not retryable)", err)
			}
		})
	}
	if jobs, err := f.store.ListJobs(context.Background(), tenant, 0); err != nil || len(jobs) != 0 {
		t.Errorf("jobs = %+v, %v", jobs, err)
	}
	out, err := f.stack.Clients.S3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(f.stack.JobsBucket), Prefix: aws.String("jobs/")})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out.Contents {
		if strings.Contains(*o.Key, tenant) || strings.Contains(*o.Key, "nosuchtenant") || strings.Contains(*o.Key, "ACME") {
			t.Errorf("written: %s", *o.Key)
		}
	}
	if f.sfn.count() != 0 {
		t.Errorf("%d executions started", f.sfn.count())
	}
	if logs := f.logs.String(); strings.Count(logs, "upload rejected") != 12 {
		t.Errorf("want 12 rejections logged:\n%s", logs)
	}
}

func TestTenantFromKey(t *testing.T) {
	for key, want := range map[string]string{
		"tenants/acme/users.csv":       "acme",
		"tenants/acme/2024/users.CSV":  "acme",
		"tenants/acme/march hires.csv": "acme",
		"tenants/acme/../b/x.csv":      "",
		"tenants/acme/./x.csv":         "",
		"tenants/acme/x.csv/..":        "",
		"tenants/acme":                 "",
		"tenants/acme/":                "",
		"Tenants/acme/x.csv":           "",
		"tenants/ac-me/x.csv":          "",
		"tenants/acme\\x.csv":          "",
	} {
		got, err := TenantFromKey(key)
		if got != want || (want == "" && err == nil) {
			t.Errorf("TenantFromKey(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestJobID(t *testing.T) {
	a := JobID("b", "tenants/acme/x.csv", "v1", `"etag"`, "01")
	if len(a) != 21 || a[0] != 'j' || a != JobID("b", "tenants/acme/x.csv", "v1", "other", "02") {
		t.Errorf("JobID = %q: want j + 20 hex, from the version when there is one", a)
	}
	for _, other := range []string{
		JobID("b", "tenants/acme/x.csv", "v2", "", ""),
		JobID("b", "tenants/acme/y.csv", "v1", "", ""),
		JobID("c", "tenants/acme/x.csv", "v1", "", ""),
	} {
		if other == a {
			t.Errorf("different upload, same id %s", a)
		}
	}
	if JobID("b", "k", "", "e1", "s1") == JobID("b", "k", "", "e1", "s2") || JobID("b", "k", "", `"e1"`, "s1") != JobID("b", "k", "", "e1", "s1") {
		t.Error("unversioned: id must follow ETag (quotes ignored) and sequencer")
	}
}

// outcomeCase is an upload and the job it must end in.
type outcomeCase struct {
	name     string
	settings string
	meta     map[string]string
	csv      string
	status   string
	counts   events.Counts
	errMsg   string
	rejected []string // "line status" in rejected.jsonl
}

func TestHandlerOutcomes(t *testing.T) {
	tests := []outcomeCase{
		{
			name: "dry run holds every valid row", meta: map[string]string{"dry-run": "yes"},
			csv: "with-errors.csv", status: jobmodel.DryRun, counts: events.Counts{Rows: 9, Invalid: 8, Held: 1},
			rejected: []string{"2 held", "3 invalid", "4 invalid", "5 invalid", "6 invalid", "7 invalid", "8 invalid", "9 invalid", "10 invalid"},
		},
		{
			name: "all or nothing holds the file", settings: `{"all_or_nothing": true}`,
			csv: "with-errors.csv", status: jobmodel.Held, counts: events.Counts{Rows: 9, Invalid: 8, Held: 1}, errMsg: "8 invalid rows",
			rejected: []string{"2 held", "3 invalid", "4 invalid", "5 invalid", "6 invalid", "7 invalid", "8 invalid", "9 invalid", "10 invalid"},
		},
		{
			name: "all or nothing with a clean file runs", settings: `{"all_or_nothing": true}`,
			meta: map[string]string{"create-dids": "true"}, csv: "acme-users.csv", status: jobmodel.Running, counts: events.Counts{Rows: 6},
		},
		{
			name: "no valid row", csv: "extension,first_name\n1,A\n2,B\n",
			status: jobmodel.Rejected, counts: events.Counts{Rows: 2, Invalid: 2}, errMsg: "no row is valid",
			rejected: []string{"2 invalid", "3 invalid"},
		},
		{
			name: "bad option", meta: map[string]string{"on-existing": "merge"}, csv: "acme-users.csv",
			status: jobmodel.Rejected, errMsg: "must be fail, skip or update",
		},
		{
			name: "unusable file", csv: "name,email\nAnn,a@b.c\n",
			status: jobmodel.Rejected, errMsg: "no extension column",
		},
		{
			name: "too large for the tenant", settings: `{"max_object_bytes": 100}`, csv: "acme-users.csv",
			status: jobmodel.Rejected, errMsg: "more than the limit of 100",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tenant := newTenant(t, f.store, tt.settings)
			body := tt.csv
			if strings.HasSuffix(body, ".csv") {
				body = readExample(t, body)
			}
			f.upload(t, "tenants/"+tenant+"/u.csv", body, tt.meta, 0)
			checkOutcome(t, f, tenant, tt)
		})
	}
}

// checkOutcome checks the tenant's only job, its execution and its files
// against tt.
func checkOutcome(t *testing.T, f *fixture, tenant string, tt outcomeCase) {
	t.Helper()
	job := f.onlyJob(t, tenant)
	if job.Status != tt.status || job.Counts != tt.counts || !strings.Contains(job.Error, tt.errMsg) {
		t.Errorf("job status %s counts %+v error %q; want %s %+v %q", job.Status, job.Counts, job.Error, tt.status, tt.counts, tt.errMsg)
	}
	wantStarts := 0
	if tt.status == jobmodel.Running {
		wantStarts = 1
	}
	if f.sfn.count() != wantStarts {
		t.Errorf("%d executions, want %d", f.sfn.count(), wantStarts)
	}
	if _, ok := f.object(t, jobfiles.RowsKey(tenant, job.ID)); ok != (wantStarts == 1) {
		t.Errorf("rows.jsonl written = %v", ok)
	}
	if _, ok := f.object(t, jobfiles.ValidationJSONKey(tenant, job.ID)); !ok {
		t.Error("no validation report")
	}
	if tt.rejected != nil {
		s, _ := f.object(t, jobfiles.RejectedKey(tenant, job.ID))
		var got []string
		for _, r := range jsonLines[events.RowResult](t, s) {
			got = append(got, fmt.Sprintf("%d %s", r.Line, r.Status))
		}
		if !slices.Equal(got, tt.rejected) {
			t.Errorf("rejected.jsonl = %q, want %q", got, tt.rejected)
		}
	}
}

// putItem stores a raw item, as the records step would have.
func putItem(t *testing.T, db *dynamodb.Client, table, pk, sk string, attrs map[string]string) {
	t.Helper()
	item := map[string]ddbtypes.AttributeValue{
		store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: pk},
		store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: sk},
	}
	for k, v := range attrs {
		item[k] = &ddbtypes.AttributeValueMemberS{Value: v}
	}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

// TestTenantDataRules checks the rules that need stored data against
// DynamoDB Local through *store.Store, in small lookup batches.
func TestTenantDataRules(t *testing.T) {
	f := newFixture(t)
	tenant := newTenant(t, f.store, "")
	other := newTenant(t, f.store, "")
	db, table := f.stack.Clients.DynamoDB, f.stack.Table
	// Unique numbers per run: owner items are global.
	n := time.Now().UnixNano() % 1e4
	own, free, taken, stale := fmt.Sprintf("+1415555%04d", n), fmt.Sprintf("+1415556%04d", n), fmt.Sprintf("+1415557%04d", n), fmt.Sprintf("+1415558%04d", n)
	macMine, macOther, macTaken := fmt.Sprintf("0015650a%04d", n), fmt.Sprintf("0015650b%04d", n), fmt.Sprintf("0015650c%04d", n)
	putItem(t, db, table, store.TenantPK(tenant), store.ExtensionSK("100"), nil)
	putItem(t, db, table, store.TenantPK(other), store.ExtensionSK("101"), nil) // another tenant's: irrelevant
	putItem(t, db, table, store.DIDOwnerPK(own), store.SKOwner, map[string]string{"Tenant": tenant})
	putItem(t, db, table, store.DIDOwnerPK(taken), store.SKOwner, map[string]string{"Tenant": other})
	putItem(t, db, table, store.DIDOwnerPK(stale), store.SKOwner, map[string]string{"Tenant": other})
	putItem(t, db, table, store.MACOwnerPK(macMine), store.SKOwner, map[string]string{"Tenant": tenant, "Endpoint": pbx.SIPUserName("100", tenant)})
	putItem(t, db, table, store.MACOwnerPK(macOther), store.SKOwner, map[string]string{"Tenant": tenant, "Endpoint": pbx.SIPUserName("105", tenant)})
	putItem(t, db, table, store.MACOwnerPK(macTaken), store.SKOwner, map[string]string{"Tenant": other, "Endpoint": "1-" + other})

	csv := header +
		"100,Ann,,,," + own + "," + macMine + "\n" + // exists; own DID; own MAC on its own endpoint
		"101,Bo,,,," + free + ",\n" + // DID not owned
		"102,Cy,,,," + taken + ",\n" + // DID taken
		"103,Di,,,,," + macTaken + "\n" + // MAC taken
		"104,Ed,,,,," + macOther + "\n" + // MAC on another endpoint of the tenant
		"106,Fa,,,," + stale + ",\n" // DID taken despite a tenant item
	tests := []struct {
		opts    string
		errs    []string
		valid   int
		skipped int
	}{
		// Issue #17: a number outside the inventory (line 3), another
		// tenant's (4) and a stale one (7) get one answer, with or without
		// create-dids; another tenant's MAC (5) is answered like a MAC never
		// seen (it fails when written), only the tenant's own MAC on
		// another of its endpoints (6) is refused here.
		{`{"upload": {"on_existing": "fail"}}`, []string{"2 extension extension_exists", "3 did did_unavailable", "4 did did_unavailable", "6 mac mac_taken", "7 did did_unavailable"}, 1, 0},
		{`{"upload": {"on_existing": "skip", "create_dids": true}}`, []string{"3 did did_unavailable", "4 did did_unavailable", "6 mac mac_taken", "7 did did_unavailable"}, 1, 1},
		{`{"upload": {"on_existing": "update"}}`, []string{"3 did did_unavailable", "4 did did_unavailable", "6 mac mac_taken", "7 did did_unavailable"}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.opts, func(t *testing.T) {
			settings, err := f.store.LoadSettings(context.Background(), tenant, []byte(tt.opts))
			if err != nil {
				t.Fatal(err)
			}
			res := validate(t, csv, Input{Tenant: tenant, Settings: settings, Lookup: f.store, LookupBatch: 2})
			if got := issues(res.report.Errors); !slices.Equal(got, tt.errs) {
				t.Errorf("errors = %q, want %q", got, tt.errs)
			}
			if res.report.Valid != tt.valid || res.report.Skipped != tt.skipped || res.report.Rows != 6 {
				t.Errorf("report = %+v", res.report)
			}
			for _, e := range res.report.Errors {
				if e.Code == pbx.CodeDIDUnavailable && !strings.HasSuffix(e.Message, " is not available to this tenant; use one of its own numbers or ask the operator to assign it") {
					t.Errorf("unavailable message %q", e.Message)
				}
				if strings.Contains(e.Message, other) {
					t.Errorf("message leaks the other tenant: %q", e.Message)
				}
			}
			switch {
			case strings.Contains(tt.opts, "update"):
				if len(res.rows) != 2 || !res.rows[0].Exists {
					t.Errorf("update: rows = %+v", res.rows)
				}
			case strings.Contains(tt.opts, "skip"):
				if res.rejected[0].Status != events.StatusSkipped || res.rejected[0].Code != pbx.CodeExtensionExists {
					t.Errorf("skip: rejected = %+v", res.rejected[0])
				}
			}
		})
	}
}

// TestRedeliveryWhileRowsAreBeingCreated: S3 delivered an upload's event
// again while the first ingest of that job still showed VALIDATING and its
// execution had already created some of the rows. The second ingest redoes
// the job and must reach the same verdict: an extension this job created is
// not an existing user (before, it was, and the job ended REJECTED, "no row
// is valid"). An extension another job created still is.
func TestRedeliveryWhileRowsAreBeingCreated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tenant := newTenant(t, f.store, "")
	key := "tenants/" + tenant + "/redelivered.csv"
	body := "Extension,First Name,Email\r\n301,Ann,ann@example.com\r\n302,Bo,bo@example.com\r\n303,Cy,cy@example.com\r\n"
	put, err := f.stack.Clients.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(f.stack.UploadsBucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	etag := aws.ToString(put.ETag)
	event := lambdaevents.S3Event{Records: []lambdaevents.S3EventRecord{{
		EventName: "ObjectCreated:Put",
		S3: lambdaevents.S3Entity{
			Bucket: lambdaevents.S3Bucket{Name: f.stack.UploadsBucket},
			Object: lambdaevents.S3Object{Key: key, ETag: etag, Sequencer: "0A1B2C", Size: int64(len(body))},
		},
	}}}
	jobID := JobID(f.stack.UploadsBucket, key, "", etag, "0A1B2C")
	// The first ingest: it created the job, and its execution has written
	// rows 301 and 302; 303 was created by another upload.
	if _, _, err := f.store.CreateJob(ctx, jobmodel.Job{Tenant: tenant, ID: jobID, Status: jobmodel.Validating, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	for ext, job := range map[string]string{"301": jobID, "302": jobID, "303": "janotherjob000000000"} {
		_, err := f.stack.Clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.stack.Table), Item: map[string]ddbtypes.AttributeValue{
			store.AttrPK: &ddbtypes.AttributeValueMemberS{Value: store.TenantPK(tenant)},
			store.AttrSK: &ddbtypes.AttributeValueMemberS{Value: store.ExtensionSK(ext)},
			"Type":       &ddbtypes.AttributeValueMemberS{Value: "EXT"},
			"Job":        &ddbtypes.AttributeValueMemberS{Value: job},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}

	if err := f.handler.Handle(ctx, event); err != nil {
		t.Fatal(err)
	}
	job, err := f.store.GetJob(ctx, tenant, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if job.Status != jobmodel.Running || job.Counts.Rows != 3 || job.Counts.Invalid != 1 {
		t.Errorf("job %s with counts %+v, want RUNNING with 1 invalid row of 3", job.Status, job.Counts)
	}
	validation, _ := f.object(t, jobfiles.ValidationJSONKey(tenant, jobID))
	var report Report
	if err := json.Unmarshal([]byte(validation), &report); err != nil {
		t.Fatal(err)
	}
	if report.Valid != 2 || len(report.Errors) != 1 || report.Errors[0].Line != 4 || report.Errors[0].Code != pbx.CodeExtensionExists {
		t.Errorf("report: %d valid, errors %+v; want 301 and 302 valid and 303 extension_exists", report.Valid, report.Errors)
	}
	if n := f.sfn.count(); n != 1 {
		t.Errorf("%d executions started, want 1", n)
	}
}
