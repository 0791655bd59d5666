package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/mail"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

// The standard file every fault case uploads: 26 rows in batches of 20, so
// phase 1 has two batches and the first needs two transactions (12 rows
// each); every 2nd row has a MAC, every 3rd a DID.
const (
	stdRows  = 26
	stdBatch = 20
)

// tenantEnv is one test's tenant.
type tenantEnv struct {
	Name         string
	K            int64 // its number: DIDs and MACs are unique per tenant
	ProvPassword string
}

type userRow struct {
	Ext, First, Last, Email, DID, MAC string
}

var firstNames = []string{"Ann", "Bruno", "Chloe", "Dev", "Eve", "Farid", "Gail", "Hiro", "Ivan", "Jo", "Kai", "Lea", "Max"}

// newTenant seeds a fresh tenant with the local settings, batch size
// stdBatch and extra top-level overrides.
func (h *harness) newTenant(t *testing.T, prefix string, extra map[string]any) tenantEnv {
	t.Helper()
	ctx := context.Background()
	k := h.seq.Add(1)
	name := fmt.Sprintf("rel%s%d", prefix, k)
	var o map[string]any
	if err := json.Unmarshal(pbx.LocalTenantOverrides(name), &o); err != nil {
		t.Fatal(err)
	}
	o["batch_size"] = stdBatch
	for key, v := range extra {
		o[key] = v
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.p.Store.PutTenant(ctx, pbx.Tenant{Name: name, DisplayName: name}, b); err != nil {
		t.Fatalf("seed tenant %s: %v", name, err)
	}
	// A tenant-wide password as phones had before per-device credentials:
	// the provisioning tests show it opens nothing.
	env := tenantEnv{Name: name, K: k, ProvPassword: rand.Text()}
	// The operator's inventory holds the numbers users() and mixEnv use,
	// free, and the tenant may take them with create-dids (issue #17).
	var dids []string
	for i := range 100 {
		dids = append(dids, fmt.Sprintf("+1415%03d%04d", 200+k, i))
	}
	for i := range didPool {
		dids = append(dids, mixEnv{env}.did(i))
	}
	if _, _, err := h.p.Store.AddDIDs(ctx, dids, ""); err != nil {
		t.Fatalf("seed DIDs of %s: %v", name, err)
	}
	if err := h.p.Store.SetDIDPolicy(ctx, name, store.DIDPolicy{ClaimFree: true}); err != nil {
		t.Fatalf("seed DID policy of %s: %v", name, err)
	}
	return env
}

// users returns n rows for tenant env: extensions 200.., unique emails,
// DIDs on every 3rd row and MACs on every 2nd, unique across tenants.
func (env tenantEnv) users(n int) []userRow {
	rows := make([]userRow, n)
	for i := range rows {
		ext := strconv.Itoa(200 + i)
		r := userRow{
			Ext: ext, First: firstNames[i%len(firstNames)], Last: "Tester",
			Email: "u" + ext + "@" + env.Name + ".example",
		}
		if i%3 == 0 {
			r.DID = fmt.Sprintf("+1415%03d%04d", 200+env.K, i)
		}
		if i%2 == 0 {
			r.MAC = fmt.Sprintf("805ec0%02x%04x", env.K%256, i)
		}
		rows[i] = r
	}
	return rows
}

func csvOf(rows []userRow) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"extension", "first_name", "last_name", "email", "did", "mac"})
	for _, r := range rows {
		_ = w.Write([]string{r.Ext, r.First, r.Last, r.Email, r.DID, r.MAC})
	}
	w.Flush()
	return b.Bytes()
}

// stdMeta are the standard file's upload options (its DIDs are new).
func stdMeta() map[string]string { return map[string]string{pbx.MetaCreateDIDs: "true"} }

// put writes an object into the uploads bucket; the S3 event follows.
func (h *harness) put(t *testing.T, key string, body []byte, meta map[string]string) {
	t.Helper()
	_, err := h.p.Stack.Clients.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(h.p.Stack.UploadsBucket), Key: aws.String(key),
		Body: bytes.NewReader(body), ContentType: aws.String("text/csv"), Metadata: meta,
	})
	if err != nil {
		t.Fatalf("upload %s: %v", key, err)
	}
}

// settle waits for every S3 event and execution.
func (h *harness) settle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := h.p.Wait(ctx); err != nil {
		t.Fatalf("wait for the pipeline: %v", err)
	}
}

// jobs lists the tenant's jobs for an upload key, oldest first.
func (h *harness) jobs(t *testing.T, tenant, key string) []jobmodel.Job {
	t.Helper()
	all, err := h.p.Store.ListJobs(context.Background(), tenant, 1000)
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	var out []jobmodel.Job
	for _, j := range all {
		if key == "" || j.Upload.Key == key {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(i, k int) bool { return out[i].CreatedAt.Before(out[k].CreatedAt) })
	return out
}

// observed is everything a job leaves behind, with tenant-specific names
// (tenant, DIDs, MACs) normalized so two tenants' runs compare equal.
type observed struct {
	JobStatuses []string
	Report      []string       // line,extension,user,status,code,provisioning_file,email_status
	ReportCodes map[int]string // line → error code (unnormalized)
	Items       []string       // table items of the tenant (and its global items)
	Files       []string       // provisioning bucket keys
	Emails      map[string]int // recipient → messages
}

func normalizer(tenant string, rows []userRow) *strings.Replacer {
	var pairs []string
	for _, r := range rows {
		if r.MAC != "" {
			pairs = append(pairs, r.MAC, "mac"+r.Ext, strings.ToUpper(r.MAC), "MAC"+r.Ext)
		}
		if r.DID != "" {
			pairs = append(pairs, r.DID, "did"+r.Ext)
		}
	}
	pairs = append(pairs, tenant, "T")
	return strings.NewReplacer(pairs...)
}

// observe collects the outcome of the tenant's uploads of key.
func (h *harness) observe(t *testing.T, env tenantEnv, rows []userRow, key string) *observed {
	t.Helper()
	norm := normalizer(env.Name, rows)
	o := &observed{ReportCodes: map[int]string{}, Emails: map[string]int{}}
	jobs := h.jobs(t, env.Name, key)
	for _, j := range jobs {
		o.JobStatuses = append(o.JobStatuses, j.Status)
	}
	if len(jobs) == 1 {
		o.Report, o.ReportCodes = h.report(t, env.Name, jobs[0].ID, norm)
	}
	o.Items = h.items(t, env.Name, norm)
	o.Files = h.files(t, env.Name, norm)
	for rcpt, n := range h.emailsTo(t, env.Name) {
		o.Emails[norm.Replace(rcpt)] = n
	}
	return o
}

func (h *harness) getObject(t *testing.T, bucket, key string) []byte {
	t.Helper()
	out, err := h.p.Stack.Clients.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// report reads a job's report.csv.
func (h *harness) report(t *testing.T, tenant, job string, norm *strings.Replacer) ([]string, map[int]string) {
	t.Helper()
	body := h.getObject(t, h.p.Stack.JobsBucket, jobfiles.ReportKey(tenant, job))
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("report of %s: %v", job, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "line,extension,user,status,error_code,message,provisioning_file,email_status" {
		t.Fatalf("report of %s: unexpected header %v", job, recs)
	}
	var lines []string
	codes := map[int]string{}
	for _, r := range recs[1:] {
		n, _ := strconv.Atoi(r[0])
		codes[n] = r[4]
		lines = append(lines, norm.Replace(strings.Join([]string{r[0], r[1], r[2], r[3], r[4], r[6], r[7]}, ",")))
	}
	return lines, codes
}

// items returns the tenant's table items and the global items it owns,
// as normalized "PK|SK" (plus the status of ledger items and whether a
// secret still holds its portal credential).
func (h *harness) items(t *testing.T, tenant string, norm *strings.Replacer) []string {
	t.Helper()
	pager := dynamodb.NewScanPaginator(h.p.Stack.Clients.DynamoDB, &dynamodb.ScanInput{
		TableName: aws.String(h.p.Stack.Table), ConsistentRead: aws.Bool(true),
		FilterExpression:          aws.String("PK = :pk OR Tenant = :t"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: store.TenantPK(tenant)}, ":t": &types.AttributeValueMemberS{Value: tenant}},
	})
	var out []string
	for pager.HasMorePages() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan: %v", err)
		}
		for _, it := range page.Items {
			var m map[string]any
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				t.Fatal(err)
			}
			pk, sk := fmt.Sprint(m["PK"]), fmt.Sprint(m["SK"])
			switch {
			case strings.HasPrefix(sk, "JOB#"):
				continue // job ids differ by design; jobs are checked separately
			case strings.HasPrefix(pk, "INVITE#"):
				pk = "INVITE#" + fmt.Sprint(m["User"])
			case strings.HasPrefix(sk, "EMAIL#"):
				sk += "|" + fmt.Sprint(m["Status"])
			case strings.HasPrefix(sk, "SECRET#"):
				if _, ok := m["Portal"]; ok {
					sk += "|portal"
				}
			}
			out = append(out, norm.Replace(pk+"|"+sk))
		}
	}
	slices.Sort(out)
	return out
}

// files lists the tenant's provisioning files.
func (h *harness) files(t *testing.T, tenant string, norm *strings.Replacer) []string {
	t.Helper()
	pager := s3.NewListObjectsV2Paginator(h.p.Stack.Clients.S3, &s3.ListObjectsV2Input{
		Bucket: aws.String(h.p.Stack.ProvisioningBucket), Prefix: aws.String(tenant + "/"),
	})
	var out []string
	for pager.HasMorePages() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list provisioning: %v", err)
		}
		for _, o := range page.Contents {
			out = append(out, norm.Replace(aws.ToString(o.Key)))
		}
	}
	slices.Sort(out)
	return out
}

// emailsTo counts the outbox's messages per recipient of the tenant's
// domain.
func (h *harness) emailsTo(t *testing.T, tenant string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range h.messages(t) {
		if strings.HasSuffix(m.To, "@"+tenant+".example") {
			out[m.To]++
		}
	}
	return out
}

// message is one .eml of the outbox.
type message struct {
	Path, To string
	Raw      []byte
}

func (h *harness) messages(t *testing.T) []message {
	t.Helper()
	paths, err := h.p.Stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	var out []message
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		to, err := mail.ParseAddress(m.Header.Get("To"))
		if err != nil {
			t.Fatalf("%s: To: %v", p, err)
		}
		out = append(out, message{Path: p, To: strings.ToLower(to.Address), Raw: raw})
	}
	return out
}

// checkNoHalfRows asserts that each input row has either all of its
// records or none: its EXT# item (user, extension, mailbox, endpoint,
// contact) never exists without its SECRET (and DID with its route, owners
// when the row has them), nor any of those without the EXT# item.
func checkNoHalfRows(t *testing.T, o *observed, rows []userRow) {
	t.Helper()
	have := map[string]bool{}
	for _, it := range o.Items {
		k, _, _ := strings.Cut(it, "|") // PK
		rest := strings.TrimPrefix(it, k+"|")
		sk, _, _ := strings.Cut(rest, "|")
		have[k+"|"+sk] = true
	}
	for _, r := range rows {
		want := []string{
			"TENANT#T|EXT#" + r.Ext, "TENANT#T|SECRET#" + r.Ext + "-T",
		}
		if r.DID != "" {
			want = append(want, "DID#did"+r.Ext+"|OWNER")
		}
		if r.MAC != "" {
			want = append(want, "MAC#mac"+r.Ext+"|OWNER")
		}
		var present, missing []string
		for _, k := range want {
			if have[k] {
				present = append(present, k)
			} else {
				missing = append(missing, k)
			}
		}
		if len(present) > 0 && len(missing) > 0 {
			t.Errorf("half row: extension %s has %v but not %v", r.Ext, present, missing)
		}
	}
}

// checkEveryLineOnce asserts the report has each data line exactly once.
func checkEveryLineOnce(t *testing.T, o *observed, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range o.Report {
		line, _, _ := strings.Cut(l, ",")
		seen[line]++
	}
	for i := range n {
		if c := seen[strconv.Itoa(i+2)]; c != 1 {
			t.Errorf("report has line %d %d times, want once", i+2, c)
		}
	}
	if len(o.Report) != n {
		t.Errorf("report has %d rows, want %d", len(o.Report), n)
	}
}

// cleanRun is the reference: the standard file on a tenant with no faults.
func (h *harness) cleanRun(t *testing.T) *observed {
	t.Helper()
	h.cleanOnce.Do(func() {
		env := h.newTenant(t, "clean", nil)
		rows := env.users(stdRows)
		key := jobfiles.UploadPrefix(env.Name) + "users.csv"
		h.put(t, key, csvOf(rows), stdMeta())
		h.settle(t)
		h.clean = h.observe(t, env, rows, key)
	})
	if h.clean == nil {
		t.Fatal("the clean reference run failed")
	}
	return h.clean
}

// diff describes how two string lists differ.
func diff(got, want []string) string {
	g, w := map[string]int{}, map[string]int{}
	for _, s := range got {
		g[s]++
	}
	for _, s := range want {
		w[s]++
	}
	var b strings.Builder
	for s, n := range g {
		if n > w[s] {
			fmt.Fprintf(&b, "  extra: %s (x%d)\n", s, n-w[s])
		}
	}
	for s, n := range w {
		if n > g[s] {
			fmt.Fprintf(&b, "  missing: %s (x%d)\n", s, n-g[s])
		}
	}
	return b.String()
}
