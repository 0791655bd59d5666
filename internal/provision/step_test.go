package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

// fixture is one tenant on the shared stack.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	tenant string
	store  *store.Store
	box    *secrets.Box
	step   *Step
	logs   *bytes.Buffer
}

func newFixture(t *testing.T, tenant, settingsOverrides string) *fixture {
	t.Helper()
	ctx := context.Background()
	st := store.New(env.stack.Clients.DynamoDB, env.stack.Table)
	overrides := pbx.LocalTenantOverrides(tenant)
	if settingsOverrides != "" {
		var a, b map[string]any
		if err := json.Unmarshal(overrides, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(settingsOverrides), &b); err != nil {
			t.Fatal(err)
		}
		prov := a["provisioning"].(map[string]any)
		for k, v := range b {
			prov[k] = v
		}
		overrides, _ = json.Marshal(a)
	}
	if err := st.PutTenant(ctx, pbx.Tenant{Name: tenant}, overrides); err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	box := secrets.NewBox(env.stack.Clients.KMS, env.stack.KMSKeyID)
	logs := &bytes.Buffer{}
	return &fixture{t: t, ctx: ctx, tenant: tenant, store: st, box: box, logs: logs, step: &Step{
		S3: env.stack.Clients.S3, Settings: st, Credentials: st, Secrets: box, Renderer: r,
		ProvisioningBucket: env.stack.ProvisioningBucket, BaseURL: "https://prov.pbx.example",
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	}}
}

// endpoint stores a sealed SIP secret as create-records does.
func (f *fixture) endpoint(sipUser, secret string) {
	f.t.Helper()
	sealer, err := f.box.Sealer(f.ctx, f.tenant)
	if err != nil {
		f.t.Fatal(err)
	}
	sealed, err := sealer.Seal([]byte(secret), pbx.SIPSecretBinding(sipUser))
	if err != nil {
		f.t.Fatal(err)
	}
	if err := store.New(env.stack.Clients.DynamoDB, env.stack.Table).PutCredentials(f.ctx, f.tenant, pbx.Credentials{SIPUser: sipUser, SIPSecret: sealed}); err != nil {
		f.t.Fatal(err)
	}
}

// batch writes create-records' result object and returns the step input.
func (f *fixture) batch(job string, rows ...events.RowResult) events.BatchResult {
	f.t.Helper()
	b := events.BatchResult{Tenant: f.tenant, Job: job, Batch: jobfiles.BatchID(rows[0].Line),
		JobsBucket: env.stack.JobsBucket}
	b.ResultKey = jobfiles.ResultKey(f.tenant, job, b.Batch)
	b.Rows = rows
	body, _ := json.Marshal(b)
	f.put(env.stack.JobsBucket, b.ResultKey, body)
	b.Rows = nil
	return b
}

func (f *fixture) put(bucket, key string, body []byte) {
	f.t.Helper()
	if _, err := env.stack.Clients.S3.PutObject(f.ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) get(bucket, key string) ([]byte, bool) {
	f.t.Helper()
	out, err := env.stack.Clients.S3.GetObject(f.ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if isNoSuchKey(err) {
			return nil, false
		}
		f.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return b, true
}

func (f *fixture) storedRows(in events.BatchResult) []events.RowResult {
	f.t.Helper()
	body, ok := f.get(in.JobsBucket, in.ResultKey)
	if !ok {
		f.t.Fatal("result object missing")
	}
	var r events.BatchResult
	if err := json.Unmarshal(body, &r); err != nil {
		f.t.Fatal(err)
	}
	return r.Rows
}

// provisioningObjects lists the tenant's files in the provisioning bucket.
func (f *fixture) provisioningObjects() map[string][]byte {
	f.t.Helper()
	out, err := env.stack.Clients.S3.ListObjectsV2(f.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(env.stack.ProvisioningBucket), Prefix: aws.String(f.tenant + "/")})
	if err != nil {
		f.t.Fatal(err)
	}
	objs := map[string][]byte{}
	for _, o := range out.Contents {
		objs[*o.Key], _ = f.get(env.stack.ProvisioningBucket, *o.Key)
	}
	return objs
}

func created(line int, ext, tenant, mac string) events.RowResult {
	return events.RowResult{Line: line, Extension: ext, Name: "User " + ext, User: tenant + "-" + ext,
		SIPUser: ext + "-" + tenant, MAC: mac, Status: events.StatusCreated}
}

func TestStepWritesOneFilePerDevice(t *testing.T) {
	f := newFixture(t, "stepacme", "")
	f.endpoint("100-stepacme", "secret-100-AAAA")
	f.endpoint("101-stepacme", "secret-101-BBBB")
	f.endpoint("103-stepacme", "secret-103-DDDD")
	failed := created(5, "102", "stepacme", "001565000102")
	failed.Status, failed.Code = events.StatusFailed, pbx.CodeMACTaken
	noMAC := created(6, "103", "stepacme", "")
	updated := created(3, "101", "stepacme", "001565000101")
	updated.Status = events.StatusUpdated
	in := f.batch("job1", created(2, "100", "stepacme", "001565000100"), updated, failed, noMAC)

	before := env.calls.Snapshot()
	out, err := f.step.Handle(f.ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	calls := env.calls.Snapshot().Sub(before)
	if out.Rows != nil || out.ResultKey != in.ResultKey || out.Tenant != "stepacme" {
		t.Errorf("output = %+v, want the input without rows", out)
	}
	// 2 devices + their model's bootstrap file + the result object; one
	// read of the result; one BatchGetItem for the settings (system
	// defaults + tenant) and one for the secrets; at most one KMS Decrypt
	// (one data key).
	want := map[string]int{"S3.PutObject": 4, "S3.GetObject": 1, "DynamoDB.BatchGetItem": 2, "DynamoDB.GetItem": 0}
	for op, n := range want {
		if calls.Calls[op] != n {
			t.Errorf("%s calls = %d, want %d\n%s", op, calls.Calls[op], n, calls.Table())
		}
	}
	if calls.Calls["KMS.Decrypt"] > 1 {
		t.Errorf("KMS.Decrypt calls = %d, want ≤ 1", calls.Calls["KMS.Decrypt"])
	}

	objs := f.provisioningObjects()
	if len(objs) != 3 || objs["stepacme/y000000000096.cfg"] == nil {
		t.Fatalf("provisioning objects = %d, want 2 MAC files and y000000000096.cfg: %v", len(objs), keys(objs))
	}
	for ext, secret := range map[string]string{"100": "secret-100-AAAA", "101": "secret-101-BBBB"} {
		body := objs["stepacme/001565000"+ext+".cfg"]
		if !bytes.Contains(body, []byte("account.1.password = "+secret+"\n")) || !bytes.Contains(body, []byte("user_name = "+ext+"-stepacme\n")) {
			t.Errorf("file of %s lacks its credentials:\n%s", ext, body)
		}
	}
	rows := f.storedRows(in)
	if rows[0].ProvisioningFile != "stepacme/001565000100.cfg" || rows[1].ProvisioningFile != "stepacme/001565000101.cfg" {
		t.Errorf("provisioning files = %q, %q", rows[0].ProvisioningFile, rows[1].ProvisioningFile)
	}
	if rows[2].ProvisioningFile != "" || rows[2].Code != pbx.CodeMACTaken || rows[2].Status != events.StatusFailed {
		t.Errorf("failed row changed: %+v", rows[2])
	}
	if rows[3].ProvisioningFile != "" || len(rows[3].Warnings) != 0 || rows[3].Code != "" {
		t.Errorf("row without MAC changed: %+v", rows[3])
	}
	if strings.Contains(f.logs.String(), "secret-10") {
		t.Error("a SIP secret reached the logs")
	}

	// Replay: same objects, same result, no repeated warnings.
	resultBefore, _ := f.get(in.JobsBucket, in.ResultKey)
	if _, err := f.step.Handle(f.ctx, in); err != nil {
		t.Fatal(err)
	}
	resultAfter, _ := f.get(in.JobsBucket, in.ResultKey)
	if !bytes.Equal(resultBefore, resultAfter) {
		t.Errorf("replay changed the result:\n%s\n%s", resultBefore, resultAfter)
	}
	again := f.provisioningObjects()
	for k, v := range objs {
		if !bytes.Equal(again[k], v) {
			t.Errorf("replay changed %s", k)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestStepProvisioningOffWarns(t *testing.T) {
	tests := []struct {
		tenant, settings, want string
	}{
		{"stepoff", `{"enabled": false}`, "not enabled"},
		{"stepnomodel", `{"default_phone_model": ""}`, "no default phone model"},
		{"stepbadmodel", `{}`, "not supported"},
		{"stepfamily", `{"families": ["yealink"]}`, "does not provision snom phones"},
	}
	for _, tt := range tests {
		t.Run(tt.tenant, func(t *testing.T) {
			f := newFixture(t, tt.tenant, tt.settings)
			f.endpoint("100-"+tt.tenant, "pw-100-xxxxxxxx")
			row := created(2, "100", tt.tenant, "001565000200")
			switch tt.tenant {
			case "stepbadmodel":
				row.PhoneModel = "acme-9000"
			case "stepfamily":
				row.PhoneModel = "snom-d785"
			}
			in := f.batch("job1", row)
			before := env.calls.Snapshot()
			for range 2 { // the replay must not repeat the warning
				if _, err := f.step.Handle(f.ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			calls := env.calls.Snapshot().Sub(before)
			// One BatchGetItem a run reads the settings; a second would be
			// the secrets.
			if calls.Calls["DynamoDB.BatchGetItem"] != 2 || calls.Calls["KMS.Decrypt"] != 0 {
				t.Errorf("secrets were read although nothing is provisioned:\n%s", calls.Table())
			}
			if objs := f.provisioningObjects(); len(objs) != 0 {
				t.Errorf("files written: %v", keys(objs))
			}
			rows := f.storedRows(in)
			if len(rows[0].Warnings) != 1 || !strings.HasPrefix(rows[0].Warnings[0], pbx.CodeMACIgnored+": ") ||
				!strings.Contains(rows[0].Warnings[0], tt.want) {
				t.Errorf("warnings = %q", rows[0].Warnings)
			}
			if rows[0].Status != events.StatusCreated || rows[0].Code != "" || rows[0].ProvisioningFile != "" {
				t.Errorf("row = %+v", rows[0])
			}
		})
	}
}

func TestStepFailuresFailOnlyTheRow(t *testing.T) {
	f := newFixture(t, "stepfail", "")
	f.endpoint("100-stepfail", "pw-100-xxxxxxxx")
	hostile := created(3, "101", "stepfail", "001565000301")
	f.endpoint("101-stepfail", "pw-101-xxxxxxxx")
	hostile.Name = "Eve\r\naccount.1.password = stolen"
	noSecret := created(4, "102", "stepfail", "001565000302")
	in := f.batch("job1", created(2, "100", "stepfail", "001565000300"), hostile, noSecret)
	if _, err := f.step.Handle(f.ctx, in); err != nil {
		t.Fatal(err)
	}
	rows := f.storedRows(in)
	if rows[0].ProvisioningFile == "" || rows[0].Code != "" {
		t.Errorf("good row: %+v", rows[0])
	}
	for _, r := range rows[1:] {
		if r.Status != events.StatusCreated || r.Code != pbx.CodeProvisioningFailed || r.ProvisioningFile != "" || r.Message == "" {
			t.Errorf("row %d: %+v, want created with %s", r.Line, r, pbx.CodeProvisioningFailed)
		}
	}
	if objs := f.provisioningObjects(); len(objs) != 2 || objs["stepfail/y000000000096.cfg"] == nil {
		t.Errorf("files = %v, want only the good row's and its model's bootstrap file", keys(objs))
	}

	// The bucket refuses every PUT: the rows keep their records and say so.
	broken := *f.step
	broken.ProvisioningBucket = "bulkprov-no-such-bucket"
	in2 := f.batch("job2", created(2, "100", "stepfail", "001565000300"))
	if _, err := broken.Handle(f.ctx, in2); err != nil {
		t.Fatal(err)
	}
	if r := f.storedRows(in2)[0]; r.Code != pbx.CodeProvisioningFailed || r.Status != events.StatusCreated {
		t.Errorf("row after failed PUT: %+v", r)
	}
	// A later successful attempt clears the failure.
	if _, err := f.step.Handle(f.ctx, in2); err != nil {
		t.Fatal(err)
	}
	if r := f.storedRows(in2)[0]; r.Code != "" || r.Message != "" || r.ProvisioningFile == "" {
		t.Errorf("row after retry: %+v", r)
	}
}

func TestStepMovedMACRewritesFile(t *testing.T) {
	f := newFixture(t, "stepmove", "")
	f.endpoint("100-stepmove", "pw-100-first-user")
	f.endpoint("200-stepmove", "pw-200-second-user")
	mac := "001565000400"
	if _, err := f.step.Handle(f.ctx, f.batch("job1", created(2, "100", "stepmove", mac))); err != nil {
		t.Fatal(err)
	}
	moved := created(2, "200", "stepmove", mac)
	moved.Status = events.StatusUpdated
	if _, err := f.step.Handle(f.ctx, f.batch("job2", moved)); err != nil {
		t.Fatal(err)
	}
	body, _ := f.get(env.stack.ProvisioningBucket, "stepmove/"+mac+".cfg")
	if !bytes.Contains(body, []byte("pw-200-second-user")) || bytes.Contains(body, []byte("pw-100-first-user")) {
		t.Errorf("moved MAC's file:\n%s", body)
	}
}

func TestStepRejectsForeignResultKey(t *testing.T) {
	f := newFixture(t, "stepkey", "")
	in := f.batch("job1", created(2, "100", "stepkey", "001565000500"))
	in.ResultKey = jobfiles.ResultKey("othertenant", "job1", in.Batch)
	if _, err := f.step.Handle(f.ctx, in); err == nil {
		t.Error("a result key outside the tenant's job was accepted")
	}
}

// TestStepEachRowGetsItsOwnModel is issue 16's report: one row per family
// in one batch, each file in its own model's format, plus each model's
// bootstrap file; the tenant default (Yealink) is used only for the row
// without a phone_model.
func TestStepEachRowGetsItsOwnModel(t *testing.T) {
	f := newFixture(t, "stepmix", "")
	models := []string{"yealink-t54w", "polycom-vvx450", "grandstream-grp2616", "cisco-mpp8851", "cisco-spa504g", "snom-d785", "fanvil-x6u", ""}
	var rows []events.RowResult
	for i, m := range models {
		ext := fmt.Sprint(200 + i)
		f.endpoint(ext+"-stepmix", "pw-"+ext+"-xxxxxxxx")
		r := created(2+i, ext, "stepmix", fmt.Sprintf("0015650002%02d", i))
		r.PhoneModel = m
		rows = append(rows, r)
	}
	in := f.batch("job1", rows...)
	if _, err := f.step.Handle(f.ctx, in); err != nil {
		t.Fatal(err)
	}
	objs := f.provisioningObjects()
	// The first file of each row and a fragment only that format has.
	want := []struct{ key, fragment string }{
		{"stepmix/001565000200.cfg", "account.1.user_name = 200-stepmix\n"},
		{"stepmix/001565000201-bulkprov.cfg", `reg.1.address="201-stepmix"`},
		{"stepmix/cfg001565000202.xml", "<P35>202-stepmix</P35>"},
		{"stepmix/001565000203.xml", "<User_ID_1_>203-stepmix</User_ID_1_>"},
		{"stepmix/001565000204.xml", "<User_ID_1_>204-stepmix</User_ID_1_>"},
		{"stepmix/001565000205.xml", `<user_name idx="1" perm="R">205-stepmix</user_name>`},
		{"stepmix/001565000206.cfg", "<PhoneNumber>206-stepmix</PhoneNumber>"},
		{"stepmix/001565000207.cfg", "account.1.user_name = 207-stepmix\n"},
		// Bootstrap files a factory-default phone asks for first.
		{"stepmix/y000000000096.cfg", "#!version:1.0.0.1"},
		{"stepmix/8851-3PCC.xml", "<Profile_Rule>https://prov.pbx.example/stepmix/$MA.xml</Profile_Rule>"},
		{"stepmix/spa504G.cfg", "<Profile_Rule>https://prov.pbx.example/stepmix/$MA.xml</Profile_Rule>"},
		{"stepmix/snomD785.htm", `<setting_server perm="RW">https://prov.pbx.example/stepmix/{mac}.xml</setting_server>`},
	}
	for _, w := range want {
		if !bytes.Contains(objs[w.key], []byte(w.fragment)) {
			t.Errorf("%s: missing %q in\n%s", w.key, w.fragment, objs[w.key])
		}
	}
	stored := f.storedRows(in)
	for i, r := range stored {
		if r.ProvisioningFile == "" || r.Code != "" || len(r.Warnings) != 0 {
			t.Errorf("row %d (%s): %+v", i, models[i], r)
		}
	}
}
