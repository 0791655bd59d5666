package reliability

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/portal"
	"github.com/bulkprov/bulkprov/internal/provision"
	"github.com/bulkprov/bulkprov/internal/secrets"
)

// TestUploadKeysOutsideTenant feeds ingest crafted S3 events (raw,
// URL-encoded keys as S3 sends them): each is refused and logged, creates
// no job and writes nothing.
func TestUploadKeysOutsideTenant(t *testing.T) {
	victim := suite.newTenant(t, "victim", nil)
	v := victim.Name
	keys := []struct{ name, raw string }{
		{"outside tenants/", "uploads/" + v + "/x.csv"},
		{"dot-dot segment", "tenants/" + v + "/../" + v + "/x.csv"},
		{"dot-dot to the root", "tenants/../tenants/" + v + "/x.csv"},
		{"encoded slashes and dots", "tenants/" + v + "%2F..%2F..%2Fx.csv"},
		{"encoded dot-dot", "tenants/%2e%2e/" + v + "/x.csv"},
		{"uppercase tenant", "tenants/" + strings.ToUpper(v) + "/x.csv"},
		{"unknown tenant", "tenants/nosuchtenant9/x.csv"},
		{"double slash", "tenants/" + v + "//x.csv"},
		{"backslash", "tenants/" + v + "%5C..%5Cx.csv"},
		{"NUL byte", "tenants/" + v + "/x.csv%00.png"},
		{"newline", "tenants/" + v + "/x%0A.csv"},
		{"not csv", "tenants/" + v + "/x.png"},
		{"no file name", "tenants/" + v + "/"},
		{"bad escape", "tenants/" + v + "/%zz.csv"},
	}
	before := countObjects(t, suite.p.Stack.JobsBucket, "jobs/")
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			logsBefore := len(suite.logs.String())
			ev := events.S3Event{Records: []events.S3EventRecord{{
				EventName: "ObjectCreated:Put",
				S3: events.S3Entity{
					Bucket: events.S3Bucket{Name: suite.p.Stack.UploadsBucket},
					Object: events.S3Object{Key: k.raw, Size: 10, ETag: "e", VersionID: "v-" + k.name},
				},
			}}}
			if err := suite.faults.wrapIngest(suite.p.Handlers.Ingest.Handle)(context.Background(), ev); err != nil {
				t.Fatalf("ingest returned %v; a bad key is not worth a retry", err)
			}
			if jobs := suite.jobs(t, v, ""); len(jobs) != 0 {
				t.Errorf("victim has jobs: %+v", jobs)
			}
			logs := suite.logs.String()[logsBefore:]
			if !strings.Contains(logs, "upload rejected") {
				t.Errorf("refusal not logged; logs: %s", logs)
			}
		})
	}
	if after := countObjects(t, suite.p.Stack.JobsBucket, "jobs/"); after != before {
		t.Errorf("jobs bucket went from %d to %d objects", before, after)
	}
}

func countObjects(t *testing.T, bucket, prefix string) int {
	t.Helper()
	pager := s3.NewListObjectsV2Paginator(suite.p.Stack.Clients.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	n := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Contents)
	}
	return n
}

// TestAnotherTenantsDIDAndMAC: tenant B uploads rows naming tenant A's DID
// and phone MAC. Those rows fail; nothing of A changes; nothing in B's
// reports names A.
func TestAnotherTenantsDIDAndMAC(t *testing.T) {
	a := suite.newTenant(t, "owner", nil)
	aRows := a.users(4)
	aKey := jobfiles.UploadPrefix(a.Name) + "users.csv"
	suite.put(t, aKey, csvOf(aRows), stdMeta())
	suite.settle(t)
	aNorm := normalizer(a.Name, aRows)
	aItems := suite.items(t, a.Name, aNorm)

	b := suite.newTenant(t, "thief", nil)
	bRows := b.users(3)
	bRows[0].DID = aRows[0].DID // A's DID (row 0 of A has one)
	bRows[1].MAC = aRows[0].MAC // A's MAC
	bKey := jobfiles.UploadPrefix(b.Name) + "users.csv"
	suite.put(t, bKey, csvOf(bRows), stdMeta())
	suite.settle(t)

	jobs := suite.jobs(t, b.Name, bKey)
	if len(jobs) != 1 {
		t.Fatalf("jobs of B: %d", len(jobs))
	}
	o := suite.observe(t, b, bRows, bKey)
	for line := 2; line <= 3; line++ {
		if code := o.ReportCodes[line]; code == "" {
			t.Errorf("line %d with A's DID/MAC was accepted: %v", line, o.Report)
		}
	}
	if o.ReportCodes[4] != "" {
		t.Errorf("B's own row failed: %v", o.Report)
	}
	if d := diff(suite.items(t, a.Name, aNorm), aItems); d != "" {
		t.Errorf("tenant A's records changed:\n%s", d)
	}
	// Nothing B can read names A or A's users.
	for _, name := range []string{"report.csv", "validation.json", "validation.csv", "summary.json"} {
		body := suite.getObject(t, suite.p.Stack.JobsBucket, jobfiles.JobPrefix(b.Name, jobs[0].ID)+name)
		for _, secret := range []string{a.Name, aRows[0].First + " " + aRows[0].Last, aRows[0].Email} {
			if bytes.Contains(body, []byte(secret)) {
				t.Errorf("B's %s mentions A's %q:\n%s", name, secret, body)
			}
		}
	}
}

// TestProvisioningAcrossTenants: the phone file server refuses another
// tenant's device credential, a colleague's credential, a wrong tenant path
// and an unknown MAC with the same answer, and serves the right request.
func TestProvisioningAcrossTenants(t *testing.T) {
	ctx := context.Background()
	a := suite.newTenant(t, "pva", nil)
	aRows := a.users(3) // rows 0 and 2 have a MAC
	suite.put(t, jobfiles.UploadPrefix(a.Name)+"users.csv", csvOf(aRows), stdMeta())
	b := suite.newTenant(t, "pvb", nil)
	suite.settle(t)
	creds := &provision.DeviceCredentials{Store: suite.p.Store, Box: secrets.NewBox(suite.p.Stack.Clients.KMS, suite.p.Stack.KMSKeyID)}
	cred := func(tenant, mac string) string {
		_, pw, err := creds.Credential(ctx, tenant, tenant, mac)
		if err != nil {
			t.Fatal(err)
		}
		return pw
	}
	aPW, aColleaguePW, bPW := cred(a.Name, aRows[0].MAC), cred(a.Name, aRows[2].MAC), cred(b.Name, "805ec0000001")
	srv := httptest.NewServer(&provision.Server{
		S3: suite.p.Stack.Clients.S3, Bucket: suite.p.Stack.ProvisioningBucket, Credentials: creds,
		Logger: suite.logsLogger(),
	})
	defer srv.Close()
	fileA := "/" + a.Name + "/" + aRows[0].MAC + ".cfg"
	get := func(path, user, pw string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, body
	}
	if code, _ := get(fileA, aRows[0].MAC, aPW); code != http.StatusOK {
		t.Fatalf("owner's request: %d, want 200", code)
	}
	_, refusal := get("/"+a.Name+"/000000000000.cfg", aRows[0].MAC, "wrong")
	for _, tc := range []struct{ name, path, user, pw string }{
		{"B's device credential on A's file", fileA, "805ec0000001", bPW},
		{"B's password as A's device", fileA, aRows[0].MAC, bPW},
		{"A colleague's credential on A's file", fileA, aRows[2].MAC, aColleaguePW},
		{"A's credential on B's path", "/" + b.Name + "/" + aRows[0].MAC + ".cfg", aRows[0].MAC, aPW},
		{"traversal", "/" + b.Name + "/..%2F" + a.Name + "%2F" + aRows[0].MAC + ".cfg", "805ec0000001", bPW},
		{"unknown MAC", "/" + a.Name + "/805ec0ffffff.cfg", "805ec0ffffff", aPW},
		{"tenant-wide user", fileA, a.Name, a.ProvPassword},
	} {
		code, body := get(tc.path, tc.user, tc.pw)
		if code != http.StatusUnauthorized || !bytes.Equal(body, refusal) {
			t.Errorf("%s: %d %q, want the one 401 answer", tc.name, code, body)
		}
	}
}

func (h *harness) logsLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(h.logs, nil)) }

// TestPortalAcrossTenants: a signed-in user of tenant B cannot list, read
// or download tenant A's jobs, and the refusals carry none of A's data.
func TestPortalAcrossTenants(t *testing.T) {
	a := suite.newTenant(t, "pora", nil)
	suite.put(t, jobfiles.UploadPrefix(a.Name)+"users.csv", csvOf(a.users(2)), stdMeta())
	b := suite.newTenant(t, "porb", nil)
	suite.settle(t)
	aJobs := suite.jobs(t, a.Name, "")
	if len(aJobs) != 1 {
		t.Fatalf("A's jobs: %d", len(aJobs))
	}
	api := portal.New(portal.Config{UploadsBucket: suite.p.Stack.UploadsBucket, JobsBucket: suite.p.Stack.JobsBucket},
		portal.Deps{Jobs: suite.p.Store, Settings: suite.p.Store, Lookup: suite.p.Store,
			Presigner: s3.NewPresignClient(suite.p.Stack.Clients.S3), Objects: suite.p.Stack.Clients.S3})
	call := func(path string) events.APIGatewayV2HTTPResponse {
		ev := events.APIGatewayV2HTTPRequest{RawPath: path}
		ev.RequestContext.HTTP.Method = http.MethodGet
		ev.RequestContext.HTTP.Path = path
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{portal.TenantClaim: b.Name}},
		}
		resp, err := api.Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := call("/jobs"); r.StatusCode != http.StatusOK || strings.Contains(r.Body, aJobs[0].ID) || strings.Contains(r.Body, a.Name) {
		t.Errorf("B's job list: %d %s", r.StatusCode, r.Body)
	}
	for _, path := range []string{"/jobs/" + aJobs[0].ID, "/jobs/" + aJobs[0].ID + "/report", "/jobs/..%2F" + a.Name + "%2F" + aJobs[0].ID} {
		r := call(path)
		if r.StatusCode < 400 || strings.Contains(r.Body, a.Name) || strings.Contains(r.Body, "X-Amz-Signature") {
			t.Errorf("GET %s as B: %d %s", path, r.StatusCode, r.Body)
		}
	}
}

// TestHostileFiles validates hostile uploads: each ends in a clear file-
// or row-level error, and the heap stays bounded while it is read.
func TestHostileFiles(t *testing.T) {
	env := suite.newTenant(t, "host", nil)
	settings, err := suite.p.Store.LoadSettings(context.Background(), env.Name)
	if err != nil {
		t.Fatal(err)
	}
	header := "extension,first_name,last_name,email\n"
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{0, 0xff, 0x13}, 3000)...)
	zip := append([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), bytes.Repeat([]byte{0x8b, 0, 0x9c, 0xfe}, 3000)...)
	cases := []struct {
		name string
		body func() io.Reader
		// wantFile: a file-level error; else at least wantRowErrs row errors.
		wantFile    bool
		wantRowErrs int
	}{
		{"formula injection", func() io.Reader {
			return strings.NewReader(header + "200,=HYPERLINK(\"http://x\"),@SUM(A1),+a@b.example\n201,-2+3,Lee,\"=1+1\"@x.example\n")
		}, false, 0}, // accepted: cells are escaped where they are written (report.csv), not refused
		{"CR/LF in name and email", func() io.Reader {
			return strings.NewReader(header + "200,\"Ann\r\nBcc: x@evil.example\",Lee,ann@x.example\n201,Bob,Lee,\"bob@x.example\r\nBcc: y@evil.example\"\n")
		}, false, 2},
		{"10 MB single field", func() io.Reader {
			return io.MultiReader(strings.NewReader(header+"200,"), bytes.NewReader(bytes.Repeat([]byte("A"), 10<<20)), strings.NewReader(",Lee,a@x.example\n"))
		}, true, 0},
		{"1M empty lines", func() io.Reader {
			return io.MultiReader(strings.NewReader(header), bytes.NewReader(bytes.Repeat([]byte("\n"), 1_000_000)))
		}, true, 0}, // no data rows: a file-level error (no_rows)
		{"deeply quoted field", func() io.Reader {
			return strings.NewReader(header + "200,\"" + strings.Repeat(`""`, 200_000) + "\",Lee,a@x.example\n")
		}, true, 0},
		{"invalid UTF-8", func() io.Reader {
			return strings.NewReader(header + "200,\xff\xfe\xfd,Lee,a@x.example\n")
		}, false, 0}, // not UTF-8: read as Windows-1252 (csvin's fallback), so the row is valid
		{"PNG bytes", func() io.Reader { return bytes.NewReader(png) }, true, 0},
		{"zip archive", func() io.Reader { return bytes.NewReader(zip) }, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var rep *ingest.Report
			peak := measureHeap(func() {
				rep, err = ingest.Validate(context.Background(), tc.body(), ingest.Input{Tenant: env.Name, Settings: settings})
			})
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.wantFile {
				if rep.FileError == nil || rep.FileError.Message == "" {
					t.Errorf("want a file-level error, got %+v", rep)
				}
			} else {
				if rep.FileError != nil {
					t.Errorf("unexpected file error %+v", rep.FileError)
				}
				if len(rep.Errors) < tc.wantRowErrs || tc.wantRowErrs > 0 && rep.Valid != 0 {
					t.Errorf("want %d row errors and no valid row, got valid=%d errors=%+v", tc.wantRowErrs, rep.Valid, rep.Errors)
				}
				for _, e := range rep.Errors {
					if e.Line == 0 || e.Message == "" {
						t.Errorf("row error without line or message: %+v", e)
					}
				}
			}
			// Generous: ten times the largest field the reader accepts, far
			// below the file sizes involved.
			const bound = 96 << 20
			if peak > bound {
				t.Errorf("heap grew by %d MB while validating, bound %d MB", peak>>20, bound>>20)
			}
			t.Logf("heap growth %.1f MB, report: valid=%d invalid=%d file_error=%v", float64(peak)/(1<<20), rep.Valid, rep.Invalid, rep.FileError)
		})
	}
}

// measureHeap runs f and returns the largest growth of the live heap over
// its start, sampled every 2 ms.
func measureHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			var s runtime.MemStats
			runtime.ReadMemStats(&s)
			if s.HeapAlloc > base {
				peak = max(peak, s.HeapAlloc-base)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	return peak
}

// TestHostileUploadThroughPipeline: a PNG named .csv goes through S3 and
// ingest: the job is REJECTED with a file error, nothing is created.
func TestHostileUploadThroughPipeline(t *testing.T) {
	env := suite.newTenant(t, "png", nil)
	key := jobfiles.UploadPrefix(env.Name) + "photo.csv"
	suite.put(t, key, append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 500)...), nil)
	suite.settle(t)
	jobs := suite.jobs(t, env.Name, key)
	if len(jobs) != 1 || jobs[0].Status != jobmodel.Rejected || jobs[0].Error == "" {
		t.Fatalf("jobs = %+v, want one REJECTED with a reason", jobs)
	}
	for _, it := range suite.items(t, env.Name, strings.NewReplacer()) {
		seeded := strings.HasSuffix(it, "|SETTINGS") ||
			strings.HasSuffix(it, "|DIDPOLICY") || strings.HasPrefix(it, "PROVPATH#") // with the tenant (issue #17)
		if !seeded {
			t.Errorf("record created for a PNG: %s", it)
		}
	}
}

// TestSecretsNeverLeak runs invite- and password-mode jobs, collects every
// generated secret (SIP secrets and PINs from the sealed store, invite
// links and temporary passwords from the emails) and scans the logs, the
// Step Functions payloads, every job file and the exported table for them.
func TestSecretsNeverLeak(t *testing.T) {
	ctx := context.Background()
	var secrets []string
	var pins, tenants []string
	for _, mode := range []string{"invite", "password"} {
		env := suite.newTenant(t, "sec"+mode, nil)
		tenants = append(tenants, env.Name)
		rows := env.users(5)
		meta := stdMeta()
		meta["welcome"] = mode
		suite.put(t, jobfiles.UploadPrefix(env.Name)+"users.csv", csvOf(rows), meta)
		suite.settle(t)
		var sips []string
		for _, r := range rows {
			sips = append(sips, r.Ext+"-"+env.Name)
		}
		creds, err := suite.p.Store.GetCredentials(ctx, env.Name, sips)
		if err != nil || len(creds) != len(rows) {
			t.Fatalf("credentials: %d, %v", len(creds), err)
		}
		for sip, c := range creds {
			s, err := suite.box.Open(ctx, env.Name, c.SIPSecret, pbx.SIPSecretBinding(sip))
			if err != nil {
				t.Fatal(err)
			}
			p, err := suite.box.Open(ctx, env.Name, c.PIN, pbx.PINBinding(sip))
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, string(s))
			pins = append(pins, string(p))
		}
		portal := 0
		for _, m := range suite.messages(t) {
			if !strings.HasSuffix(m.To, "@"+env.Name+".example") {
				continue
			}
			text := plainText(t, m.Raw)
			for _, re := range []*regexp.Regexp{inviteRE, tempPasswordRE} {
				if s := re.FindStringSubmatch(text); s != nil {
					secrets = append(secrets, s[1])
					portal++
				}
			}
		}
		if portal != len(rows) {
			t.Fatalf("%s mode: found %d portal secrets in the emails, want %d", mode, portal, len(rows))
		}
	}
	dir := t.TempDir()
	records := filepath.Join(dir, "records.jsonl")
	if err := suite.p.ExportRecords(ctx, records, tenants...); err != nil {
		t.Fatal(err)
	}
	recordBytes, _ := os.ReadFile(records)
	places := map[string]string{
		"logs":                   suite.logs.String(),
		"step functions payload": suite.payloads.String(),
		"records":                string(recordBytes),
		"jobs bucket":            allObjects(t, suite.p.Stack.JobsBucket),
	}
	for where, text := range places {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("a generated secret (%d chars) appears in the %s", len(s), where)
			}
		}
		for _, p := range pins {
			if regexp.MustCompile(`(^|[^0-9A-Za-z])` + p + `($|[^0-9A-Za-z])`).MatchString(text) {
				t.Errorf("a voicemail PIN appears in the %s", where)
			}
		}
	}
}

var (
	inviteRE       = regexp.MustCompile(`/invite/([A-Za-z0-9_-]{16,})`)
	tempPasswordRE = regexp.MustCompile(`Temporary password: (\S+)`)
)

// plainText returns the decoded text/plain part of a raw message.
func plainText(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		t.Fatalf("content type %q: %v", mt, err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no text/plain part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
			b, err := io.ReadAll(p) // quoted-printable is decoded by NextPart
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
}

func allObjects(t *testing.T, bucket string) string {
	t.Helper()
	var b strings.Builder
	pager := s3.NewListObjectsV2Paginator(suite.p.Stack.Clients.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			fmt.Fprintf(&b, "%s\n%s\n", aws.ToString(o.Key), suite.getObject(t, bucket, aws.ToString(o.Key)))
		}
	}
	return b.String()
}
