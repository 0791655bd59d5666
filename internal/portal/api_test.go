package portal

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/jobfiles"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/store"
)

func TestAuthAndRouting(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name       string
		call       apiCall
		wantStatus int
		wantCode   string
		wantAllow  string
	}{
		{"no authorizer", apiCall{tenant: "-", method: "GET", path: "/me"}, 401, codeUnauthorized, ""},
		{"missing tenant claim", apiCall{tenant: "", method: "GET", path: "/jobs"}, 403, codeForbidden, ""},
		{"invalid tenant claim", apiCall{tenant: "ACME", method: "GET", path: "/jobs"}, 403, codeForbidden, ""},
		{"path in tenant claim", apiCall{tenant: "../globex", method: "GET", path: "/jobs"}, 403, codeForbidden, ""},
		{"unknown tenant", apiCall{tenant: "nosuchtenant", method: "GET", path: "/me"}, 403, codeForbidden, ""},
		{"unknown endpoint", apiCall{tenant: tenantA, method: "GET", path: "/admin"}, 404, pbx.ENOTFOUND, ""},
		{"root", apiCall{tenant: tenantA, method: "GET", path: "/"}, 404, pbx.ENOTFOUND, ""},
		{"GET validate", apiCall{tenant: tenantA, method: "GET", path: "/validate"}, 405, codeMethod, "POST"},
		{"PUT uploads", apiCall{tenant: tenantA, method: "PUT", path: "/uploads"}, 405, codeMethod, "POST"},
		{"POST jobs", apiCall{tenant: tenantA, method: "POST", path: "/jobs"}, 405, codeMethod, "GET"},
		{"DELETE job", apiCall{tenant: tenantA, method: "DELETE", path: "/jobs/j123"}, 405, codeMethod, "GET"},
		{"POST report", apiCall{tenant: tenantA, method: "POST", path: "/jobs/j123/report"}, 405, codeMethod, "GET"},
		{"POST template", apiCall{tenant: tenantA, method: "POST", path: "/template"}, 405, codeMethod, "GET"},
		{"dot-dot job id", apiCall{tenant: tenantA, method: "GET", path: "/jobs/.."}, 400, pbx.EINVALID, ""},
		{"encoded dot-dot job id", apiCall{tenant: tenantA, method: "GET", path: "/jobs/%2e%2e"}, 400, pbx.EINVALID, ""},
		{"encoded slash in job id", apiCall{tenant: tenantA, method: "GET", path: "/jobs/globex%2Fj1"}, 400, pbx.EINVALID, ""},
		{"traversal to other tenant", apiCall{tenant: tenantA, method: "GET", path: "/jobs/../../jobs/globex/j1"}, 404, pbx.ENOTFOUND, ""},
		{"dot-dot report", apiCall{tenant: tenantA, method: "GET", path: "/jobs/../report"}, 400, pbx.EINVALID, ""},
		{"long job id", apiCall{tenant: tenantA, method: "GET", path: "/jobs/" + strings.Repeat("a", 65)}, 400, pbx.EINVALID, ""},
		{"GET welcome", apiCall{tenant: tenantA, method: "GET", path: "/jobs/j123/welcome"}, 405, codeMethod, "POST"},
		{"DELETE settings", apiCall{tenant: tenantA, method: "DELETE", path: "/settings"}, 405, codeMethod, "GET, PUT"},
		{"GET preview", apiCall{tenant: tenantA, method: "GET", path: "/settings/preview"}, 405, codeMethod, "POST"},
		{"letters in extension", apiCall{tenant: tenantA, method: "POST", path: "/jobs/j123/users/10a/welcome"}, 400, pbx.EINVALID, ""},
		{"dot-dot extension", apiCall{tenant: tenantA, method: "POST", path: "/jobs/j123/users/../welcome"}, 400, pbx.EINVALID, ""},
		{"dot-dot job of a user", apiCall{tenant: tenantA, method: "POST", path: "/jobs/../users/100/welcome"}, 400, pbx.EINVALID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, tt.call)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if code := r.errorCode(t); code != tt.wantCode {
				t.Errorf("code = %q, want %q", code, tt.wantCode)
			}
			if r.header["Allow"] != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", r.header["Allow"], tt.wantAllow)
			}
			if r.header["Cache-Control"] != "no-store" || r.header["X-Content-Type-Options"] != "nosniff" {
				t.Errorf("missing safety headers: %v", r.header)
			}
		})
	}
}

// TestRouteTable: every route of the table (the list infra deploys) is
// served: none answers "no such endpoint".
func TestRouteTable(t *testing.T) {
	h := newTestHandler(t)
	seen := map[string]bool{}
	for _, rt := range Routes() {
		key := rt.Method + " " + rt.Path
		if seen[key] || !strings.HasPrefix(rt.Path, "/") {
			t.Errorf("route %q listed twice or not absolute", key)
		}
		seen[key] = true
		path := strings.NewReplacer("{id}", "jnosuchjob", "{extension}", "100").Replace(rt.Path)
		r := call(t, h, apiCall{tenant: tenantA, method: rt.Method, path: path})
		if r.status == http.StatusNotFound && strings.Contains(r.body, "no such endpoint") || r.status == http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d %s", rt.Method, path, r.status, r.body)
		}
	}
	for _, want := range []string{"GET /settings", "PUT /settings", "POST /settings/preview", "GET /jobs/{id}/users",
		"POST /jobs/{id}/welcome", "POST /jobs/{id}/users/{extension}/welcome", "GET /users"} {
		if !seen[want] {
			t.Errorf("route %s missing from the table", want)
		}
	}
}

func TestBasePath(t *testing.T) {
	st := testStore()
	h := New(Config{UploadsBucket: stack.UploadsBucket, JobsBucket: stack.JobsBucket, BasePath: "/api/"},
		Deps{Jobs: st, Settings: st, Presigner: s3.NewPresignClient(stack.Clients.S3), Objects: stack.Clients.S3})
	for path, want := range map[string]int{"/api/template": 200, "/template": 404, "/apitemplate": 404, "/api": 404} {
		if r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: path}); r.status != want {
			t.Errorf("GET %s = %d, want %d", path, r.status, want)
		}
	}
}

func TestMe(t *testing.T) {
	h := newTestHandler(t)
	r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/me"})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var me Me
	r.json(t, &me)
	if me.Tenant != tenantA || me.DisplayName != tenantA || me.Defaults.Welcome != pbx.WelcomeInvite ||
		me.Defaults.OnExisting != pbx.OnExistingFail || me.Limits.MaxBodyBytes != DefaultMaxBodyBytes || me.Limits.MaxRows != 100_000 {
		t.Errorf("me = %+v", me)
	}
	if strings.Join(me.Columns, ",") != "extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department" {
		t.Errorf("columns = %v", me.Columns)
	}
	// The page's job statuses come from here (one source: jobmodel).
	if len(me.JobStatuses) != len(jobmodel.Statuses()) || me.JobStatuses[0] != jobmodel.Statuses()[0] {
		t.Errorf("job_statuses = %+v", me.JobStatuses)
	}
}

func TestTemplate(t *testing.T) {
	h := newTestHandler(t)
	r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/template"})
	if r.status != 200 || !strings.HasPrefix(r.header["Content-Type"], "text/csv") ||
		!strings.Contains(r.header["Content-Disposition"], "attachment") {
		t.Fatalf("template answer %d %v", r.status, r.header)
	}
	lines := strings.Split(strings.TrimSpace(r.body), "\n")
	if len(lines) != 3 || lines[0] != "extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department" {
		t.Fatalf("template = %q", r.body)
	}
	// The template's examples are valid by the portal's own validation
	// (with create-dids, since the example DID belongs to nobody yet).
	v := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/validate", contentType: "text/csv", body: r.body,
		query: map[string]string{"create-dids": "true"}})
	var rep ValidateResponse
	v.json(t, &rep)
	if v.status != 200 || rep.Valid != 2 || len(rep.Errors) != 0 {
		t.Errorf("template does not validate: %d %s", v.status, v.body)
	}
}

func TestValidateCSV(t *testing.T) {
	h := newTestHandler(t)
	csvBody, err := os.ReadFile("../../events/uploads/with-errors.csv")
	if err != nil {
		t.Fatal(err)
	}
	for _, encoded := range []bool{false, true} {
		body := string(csvBody)
		if encoded { // API Gateway base64-encodes bodies it does not see as text
			body = base64.StdEncoding.EncodeToString(csvBody)
		}
		r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/validate", contentType: "text/csv", body: body, base64: encoded})
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var rep ValidateResponse
		r.json(t, &rep)
		if rep.Rows != 9 || rep.Valid != 1 || rep.Invalid != 8 || rep.FileError != nil {
			t.Errorf("counts rows=%d valid=%d invalid=%d file=%v", rep.Rows, rep.Valid, rep.Invalid, rep.FileError)
		}
		if rep.Grid == nil || len(rep.Grid.Rows) != 9 || rep.Grid.Rows[0].Line != 2 || rep.Grid.Rows[0].Cells[0] != "300" ||
			rep.Grid.Rows[8].Cells[3] != "gail.ng@acme.example" || len(rep.Grid.Columns) != 10 {
			t.Fatalf("grid = %+v", rep.Grid)
		}
		// Each error sits on its line's grid row (line - 2) and, when a
		// column is at fault, on that column of the canonical header.
		rowsWithErrors := map[int]bool{}
		for _, e := range rep.Errors {
			if e.Row != e.Line-2 {
				t.Errorf("error on line %d placed on row %d", e.Line, e.Row)
			}
			if e.Column != "" && (e.Col < 0 || rep.Grid.Columns[e.Col] != e.Column) {
				t.Errorf("error on column %q placed on column %d", e.Column, e.Col)
			}
			rowsWithErrors[e.Row] = true
		}
		for row := 1; row <= 8; row++ {
			if !rowsWithErrors[row] {
				t.Errorf("no error on grid row %d (line %d): %+v", row, row+2, rep.Errors)
			}
		}
		if rowsWithErrors[0] {
			t.Errorf("line 2 is valid but has an error")
		}
		email := findIssue(rep.Errors, 3, "email")
		if email == nil || email.Code != pbx.CodeInvalidEmail || email.Col != 3 {
			t.Errorf("line 3 email error = %+v", email)
		}
		if excel := findIssue(rep.Errors, 7, "did"); excel == nil || excel.Code != pbx.CodeExcelMangled {
			t.Errorf("line 7 did error = %+v", excel)
		}
	}
}

func findIssue(issues []CellIssue, line int, column string) *CellIssue {
	for i := range issues {
		if issues[i].Line == line && issues[i].Column == column {
			return &issues[i]
		}
	}
	return nil
}

// gridCase is a grid sent to /validate and the report it should get.
type gridCase struct {
	name       string
	body       string
	wantValid  int
	wantErrors map[[2]int]string // {row, col} -> code
	wantFile   string
}

func TestValidateGrid(t *testing.T) {
	h := newTestHandler(t)
	tests := []gridCase{
		{
			name:      "all valid, canonical columns by default",
			body:      `{"rows": [["200","Ann","Lee","ann@acme.example"], ["201","Bo","Ek","bo@acme.example"]]}`,
			wantValid: 2,
		},
		{
			name:       "bad email placed on its cell",
			body:       `{"columns":["extension","first_name","last_name","email"],"rows":[["200","Ann","Lee","ann@acme.example"],["201","Bo","Ek","bo@"]]}`,
			wantValid:  1,
			wantErrors: map[[2]int]string{{1, 3}: pbx.CodeInvalidEmail},
		},
		{
			name:       "aliased columns in another order",
			body:       `{"columns":["E-Mail","Ext","Given Name"],"rows":[["a@acme.example","12x","Al"]]}`,
			wantErrors: map[[2]int]string{{0, 1}: pbx.CodeInvalidExtension},
		},
		{
			name:       "blank rows keep the line mapping",
			body:       `{"columns":["extension","first_name","email"],"rows":[["","",""],["210","Cy","cy@acme.example"],["","",""],["210","Di","di@acme.example"]]}`,
			wantValid:  1,
			wantErrors: map[[2]int]string{{3, 0}: pbx.CodeDuplicateInFile},
		},
		{
			name:       "a cell with a line break keeps later rows in place",
			body:       `{"columns":["extension","first_name","department"],"rows":[["220","Ed","Sales\nEMEA"],["22","Fa","x"],["2x3","Gu","y"]]}`,
			wantErrors: map[[2]int]string{{0, 2}: pbx.CodeControlCharacter, {2, 0}: pbx.CodeInvalidExtension},
			wantValid:  1,
		},
		{
			name:     "no extension column is a file error",
			body:     `{"columns":["first_name","email"],"rows":[["Ann","ann@acme.example"]]}`,
			wantFile: pbx.CodeMissingColumn,
		},
		{
			name:     "bad option is a file error",
			body:     `{"rows":[["200","Ann"]],"options":{"welcome":"sometimes"}}`,
			wantFile: pbx.CodeBadOption,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkValidateGrid(t, h, tt) })
	}
}

// checkValidateGrid posts the case's grid and checks the report: its file
// error, or its count of valid rows and the code on each cell in error.
func checkValidateGrid(t *testing.T, h *Handler, tt gridCase) {
	t.Helper()
	r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/validate", contentType: "application/json", body: tt.body})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var rep ValidateResponse
	r.json(t, &rep)
	if tt.wantFile != "" {
		if rep.FileError == nil || rep.FileError.Code != tt.wantFile || rep.FileError.Row != -1 {
			t.Fatalf("file error = %+v, want %s", rep.FileError, tt.wantFile)
		}
		return
	}
	if rep.FileError != nil {
		t.Fatalf("unexpected file error %+v", rep.FileError)
	}
	if rep.Valid != tt.wantValid {
		t.Errorf("valid = %d, want %d (%s)", rep.Valid, tt.wantValid, r.body)
	}
	got := map[[2]int]string{}
	for _, e := range rep.Errors {
		got[[2]int{e.Row, e.Col}] = e.Code
	}
	for cell, code := range tt.wantErrors {
		if got[cell] != code {
			t.Errorf("cell %v: code %q, want %q; all: %v", cell, got[cell], code, got)
		}
	}
	if len(got) != len(tt.wantErrors) {
		t.Errorf("errors on cells %v, want %v", got, tt.wantErrors)
	}
}

func TestValidateBadInput(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		base64      bool
		wantStatus  int
		wantCode    string
	}{
		{"malformed JSON", "application/json", `{"rows": [["1"]`, false, 400, pbx.EINVALID},
		{"not an object", "application/json", `[1,2]`, false, 400, pbx.EINVALID},
		{"unknown field", "application/json", `{"rows": [], "tenant": "globex"}`, false, 400, pbx.EINVALID},
		{"trailing data", "application/json", `{"rows": []} {"rows": []}`, false, 400, pbx.EINVALID},
		{"wrong cell type", "application/json", `{"rows": [[1, 2]]}`, false, 400, pbx.EINVALID},
		{"more cells than columns", "application/json", `{"columns":["extension"],"rows":[["1","2"]]}`, false, 400, pbx.EINVALID},
		{"too many columns", "application/json", `{"columns":[` + strings.Repeat(`"x",`, 50) + `"x"],"rows":[]}`, false, 400, pbx.EINVALID},
		{"huge cell", "application/json", `{"rows":[["` + strings.Repeat("9", 2000) + `"]]}`, false, 400, pbx.EINVALID},
		{"unsupported media type", "application/xml", `<rows/>`, false, 415, codeUnsupportedMedia},
		{"no content type", "", `extension\n100`, false, 415, codeUnsupportedMedia},
		{"bad base64", "text/csv", `***`, true, 400, pbx.EINVALID},
		{"oversize body", "text/csv", "extension\n" + strings.Repeat("100\n", DefaultMaxBodyBytes/4+1), false, 413, codeTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/validate", contentType: tt.contentType, body: tt.body, base64: tt.base64})
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			if code := r.errorCode(t); code != tt.wantCode {
				t.Errorf("code = %q, want %q", code, tt.wantCode)
			}
		})
	}
}

func TestValidateUsesTheCallersTenantData(t *testing.T) {
	h := newTestHandler(t)
	ctx := context.Background()
	// globex owns a DID; acme may not route it, even with create-dids, and
	// the message must not name globex.
	did := "+14155550177"
	if _, err := stack.Clients.DynamoDB.PutItem(ctx, ownerItem(did, tenantB)); err != nil {
		t.Fatal(err)
	}
	body := `{"rows":[["230","Ann","Lee","ann230@acme.example","","` + did + `"]],"options":{"create_dids":true}}`
	r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/validate", contentType: "application/json", body: body})
	var rep ValidateResponse
	r.json(t, &rep)
	if r.status != 200 || len(rep.Errors) != 1 || rep.Errors[0].Code != pbx.CodeDIDUnavailable || rep.Errors[0].Col != 5 {
		t.Fatalf("validate = %d %s", r.status, r.body)
	}
	if strings.Contains(strings.ToLower(r.body), tenantB) {
		t.Errorf("the answer names the other tenant: %s", r.body)
	}
	// For globex itself the same row is fine.
	r = call(t, h, apiCall{tenant: tenantB, method: "POST", path: "/validate", contentType: "application/json", body: body})
	r.json(t, &rep)
	if rep.Valid != 1 {
		t.Errorf("owner's validation = %s", r.body)
	}
}

func TestUploads(t *testing.T) {
	h := newTestHandler(t)
	ctx := context.Background()
	csvBody := "extension,first_name,email\r\n240,Ann,ann240@acme.example\r\n"
	body := `{"name":"Staff list (March).CSV","size":` + itoa(len(csvBody)) +
		`,"options":{"on_existing":"skip","create_dids":true,"dids_as_caller_id":false,"welcome":"none","dry_run":true}}`
	r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/uploads", contentType: "application/json", body: body})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var up UploadResponse
	r.json(t, &up)
	if !regexp.MustCompile(`^tenants/acme/Staff-list-March-\d{8}T\d{6}Z-[0-9a-f]{6}\.csv$`).MatchString(up.Key) || up.Name != strings.TrimPrefix(up.Key, "tenants/acme/") {
		t.Fatalf("key = %q name = %q", up.Key, up.Name)
	}
	if up.Method != "PUT" || !strings.Contains(up.URL, "X-Amz-Signature=") || up.ExpiresAt.Before(time.Now()) {
		t.Fatalf("upload = %+v", up)
	}
	for k, want := range map[string]string{
		"X-Amz-Meta-On-Existing": "skip", "X-Amz-Meta-Create-Dids": "true", "X-Amz-Meta-Dids-As-Caller-Id": "false",
		"X-Amz-Meta-Welcome": "none", "X-Amz-Meta-Dry-Run": "true", "Content-Type": "text/csv",
	} {
		if got := headerValue(up.Headers, k); got != want {
			t.Errorf("header %s = %q, want %q (all: %v)", k, got, want, up.Headers)
		}
	}
	if headerValue(up.Headers, "Host") != "" || headerValue(up.Headers, "Content-Length") != "" {
		t.Errorf("headers the browser may not set: %v", up.Headers)
	}

	// The browser's PUT, exactly as told, lands in the tenant's prefix
	// with the options as metadata, which is what ingest reads.
	resp, _ := get(t, up.Method, up.URL, up.Headers, csvBody)
	if resp.StatusCode != 200 {
		t.Fatalf("PUT to the presigned URL: %s", resp.Status)
	}
	head, err := stack.Clients.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(stack.UploadsBucket), Key: aws.String(up.Key)})
	if err != nil {
		t.Fatal(err)
	}
	override, err := pbx.ParseUploadOptions(head.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	s, err := pbx.Merge(pbx.SystemDefaults(), pbx.LocalTenantOverrides(tenantA), override)
	if err != nil {
		t.Fatal(err)
	}
	if want := (pbx.Options{OnExisting: pbx.OnExistingSkip, CreateDIDs: true, Welcome: pbx.WelcomeNone, DryRun: true}); s.Upload != want {
		t.Errorf("options ingest will read = %+v, want %+v", s.Upload, want)
	}

	// Options not given are not sent: the tenant's settings decide.
	r = call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/uploads", contentType: "application/json", body: `{"name":"a.csv","size":10}`})
	var plain UploadResponse
	r.json(t, &plain)
	if r.status != 200 || len(plain.Headers) != 1 || headerValue(plain.Headers, "Content-Type") != "text/csv" {
		t.Errorf("upload without options: %d %v", r.status, plain.Headers)
	}
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

// ownerItem is the global item that says tenant owns did (the layout
// ingest's lookup reads; keys from the store package).
func ownerItem(did, tenant string) *dynamodb.PutItemInput {
	return &dynamodb.PutItemInput{
		TableName: aws.String(stack.Table),
		Item: map[string]types.AttributeValue{
			store.AttrPK: &types.AttributeValueMemberS{Value: store.DIDOwnerPK(did)},
			store.AttrSK: &types.AttributeValueMemberS{Value: store.SKOwner},
			"Tenant":     &types.AttributeValueMemberS{Value: tenant},
		},
	}
}

func TestUploadsBadInput(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name, body string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"other tenant's prefix", `{"name":"tenants/globex/x.csv","size":10}`, 400, pbx.CodeBadKey, "name"},
		{"dot-dot", `{"name":"../globex/x.csv","size":10}`, 400, pbx.CodeBadKey, "name"},
		{"backslash", `{"name":"..\\globex\\x.csv","size":10}`, 400, pbx.CodeBadKey, "name"},
		{"bare dot-dot", `{"name":"..","size":10}`, 400, pbx.CodeBadKey, "name"},
		{"empty name", `{"name":"  ","size":10}`, 400, pbx.CodeBadKey, "name"},
		{"zero size", `{"name":"a.csv","size":0}`, 400, pbx.EINVALID, "size"},
		{"too large", `{"name":"a.csv","size":52428801}`, 413, pbx.CodeFileTooLarge, "size"},
		{"bad option", `{"name":"a.csv","size":10,"options":{"on_existing":"merge"}}`, 400, pbx.CodeBadOption, pbx.MetaOnExisting},
		{"tenant in body", `{"name":"a.csv","size":10,"tenant":"globex"}`, 400, pbx.EINVALID, ""},
		{"malformed", `{"name":`, 400, pbx.EINVALID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/uploads", contentType: "application/json", body: tt.body})
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			var e errorBody
			r.json(t, &e)
			if e.Error.Code != tt.wantCode || e.Error.Field != tt.wantField {
				t.Errorf("error = %+v, want code %q field %q", e.Error, tt.wantCode, tt.wantField)
			}
		})
	}
}

func TestUploadBaseName(t *testing.T) {
	for in, want := range map[string]string{
		"staff.csv":              "staff",
		"Staff List.CSV":         "Staff-List",
		"März 2026 (final).csv":  "M-rz-2026-final",
		"export.txt":             "export.txt",
		"---.csv":                "upload",
		"a.b.csv":                "a.b",
		strings.Repeat("x", 100): strings.Repeat("x", maxNameLen),
	} {
		got, err := uploadBaseName(in)
		if err != nil || got != want {
			t.Errorf("uploadBaseName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// jobFixture creates a job item for tenant with a unique id.
func jobFixture(t *testing.T, tenant, suffix string, mutate func(*jobmodel.Job)) jobmodel.Job {
	t.Helper()
	id := "j" + strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]`).ReplaceAllString(t.Name(), "")) + suffix
	if len(id) > 60 {
		id = id[len(id)-60:]
	}
	j := jobmodel.Job{
		Tenant: tenant, ID: id, Status: jobmodel.Running,
		Upload:    jobmodel.Upload{Bucket: stack.UploadsBucket, Key: jobfiles.UploadPrefix(tenant) + id + ".csv"},
		Options:   pbx.Options{OnExisting: pbx.OnExistingFail, Welcome: pbx.WelcomeInvite},
		Counts:    events.Counts{Rows: 120, Invalid: 10},
		RowsKey:   jobfiles.RowsKey(tenant, id),
		CreatedAt: time.Now().UTC(),
	}
	if mutate != nil {
		mutate(&j)
	}
	created, _, err := testStore().CreateJob(context.Background(), j)
	if err != nil || !created {
		t.Fatalf("create job %s: created=%v err=%v", id, created, err)
	}
	return j
}

func TestJobsAreTenantScoped(t *testing.T) {
	h := newTestHandler(t)
	mine := jobFixture(t, tenantA, "a", nil)
	theirs := jobFixture(t, tenantB, "b", func(j *jobmodel.Job) {
		j.Status = jobmodel.Done
		j.ReportKey = jobfiles.ReportKey(tenantB, j.ID)
	})
	putObject(t, stack.JobsBucket, theirs.ReportKey, "line,status\n2,created\n")

	// The list holds only the caller's jobs.
	r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs", query: map[string]string{"limit": "100"}})
	var list JobList
	r.json(t, &list)
	seen := map[string]bool{}
	for _, j := range list.Jobs {
		seen[j.ID] = true
		if !strings.HasPrefix(j.UploadKey, "tenants/acme/") {
			t.Errorf("acme's list holds %+v", j)
		}
	}
	if !seen[mine.ID] || seen[theirs.ID] {
		t.Errorf("acme's list = %v", seen)
	}

	// Another tenant's job id answers exactly like a missing job.
	missing := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs/jdoesnotexist"})
	for _, path := range []string{"/jobs/" + theirs.ID, "/jobs/" + theirs.ID + "/report"} {
		other := call(t, h, apiCall{tenant: tenantA, method: "GET", path: path})
		if other.status != 404 || other.body != strings.Replace(missing.body, "jdoesnotexist", theirs.ID, 1) || missing.status != 404 {
			t.Errorf("GET %s as acme = %d %s; missing job = %d %s", path, other.status, other.body, missing.status, missing.body)
		}
		if strings.Contains(other.body, theirs.ID) || strings.Contains(other.body, tenantB) {
			t.Errorf("404 names the job or tenant: %s", other.body)
		}
	}
	// The owner sees it.
	if r := call(t, h, apiCall{tenant: tenantB, method: "GET", path: "/jobs/" + theirs.ID}); r.status != 200 {
		t.Errorf("owner GET = %d %s", r.status, r.body)
	}

	// Filtering by another tenant's upload key is refused.
	for _, key := range []string{jobfiles.UploadPrefix(tenantB) + "x.csv", "tenants/acme/../globex/x.csv", "tenants/acme/sub/x.csv"} {
		r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs", query: map[string]string{"upload": key}})
		if r.status != 400 || r.errorCode(t) != pbx.CodeBadKey {
			t.Errorf("upload=%s: %d %s", key, r.status, r.body)
		}
	}
	r = call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs", query: map[string]string{"upload": mine.Upload.Key}})
	r.json(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != mine.ID {
		t.Errorf("jobs for upload %s = %+v", mine.Upload.Key, list.Jobs)
	}
	for _, limit := range []string{"0", "101", "ten", "-1"} {
		if r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs", query: map[string]string{"limit": limit}}); r.status != 400 {
			t.Errorf("limit=%s: %d", limit, r.status)
		}
	}
}

func TestJobProgress(t *testing.T) {
	h := newTestHandler(t)
	tests := []struct {
		name        string
		mutate      func(*jobmodel.Job)
		results     int // batch result objects present
		emails      int
		wantPhase   string
		wantDone    int
		wantTotal   int
		wantPercent float64
	}{
		// 120 rows, 10 invalid: 110 go to the workflow in 3 batches of 50.
		{"validating", func(j *jobmodel.Job) { j.Status = jobmodel.Validating }, 0, 0, "validating", 0, 120, 0},
		{"running, nothing done", nil, 0, 0, "records", 0, 110, 0},
		{"running, two batches", nil, 2, 0, "records", 100, 110, 80 * 100.0 / 110},
		{"records done, emails next", nil, 3, 1, "emails", 1, 3, 80 + 20.0/3},
		{"no emails", func(j *jobmodel.Job) { j.Options.Welcome = pbx.WelcomeNone }, 2, 0, "records", 100, 110, 100 * 100.0 / 110},
		{"all sent but not finalized", nil, 3, 3, "emails", 3, 3, 99},
		{"finished", func(j *jobmodel.Job) { j.Status = jobmodel.Done }, 0, 0, "finished", 120, 120, 100},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := jobFixture(t, tenantA, "", tt.mutate)
			for b := range tt.results {
				putObject(t, stack.JobsBucket, jobfiles.ResultKey(tenantA, j.ID, jobfiles.BatchID(2+50*b)), "{}")
			}
			for b := range tt.emails {
				putObject(t, stack.JobsBucket, jobfiles.EmailResultKey(tenantA, j.ID, jobfiles.BatchID(2+50*b)), "{}")
			}
			r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs/" + j.ID})
			if r.status != 200 {
				t.Fatalf("case %d: %d %s", i, r.status, r.body)
			}
			var v JobView
			r.json(t, &v)
			p := v.Progress
			if p == nil || p.Phase != tt.wantPhase || p.Done != tt.wantDone || p.Total != tt.wantTotal || !near(p.Percent, tt.wantPercent) {
				t.Errorf("progress = %+v, want %s %d/%d %.2f%%", p, tt.wantPhase, tt.wantDone, tt.wantTotal, tt.wantPercent)
			}
			if v.ID != j.ID || v.Status != j.Status || v.Counts != j.Counts || v.UploadName != j.ID+".csv" {
				t.Errorf("view = %+v", v)
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 0.01 && b-a < 0.01 }

func TestJobReport(t *testing.T) {
	h := newTestHandler(t)
	report := "line,extension,status\n2,100,created\n"
	tests := []struct {
		name       string
		mutate     func(*jobmodel.Job)
		object     string // key to put the report under, relative to the job
		wantStatus int
	}{
		{"running job has none", nil, "", http.StatusConflict},
		{"done job", func(j *jobmodel.Job) { j.Status = jobmodel.Done; j.ReportKey = jobfiles.ReportKey(tenantA, j.ID) }, "report.csv", 200},
		{"rejected job offers the validation report", func(j *jobmodel.Job) { j.Status = jobmodel.Rejected }, "validation.csv", 200},
		{"dry run offers the validation report", func(j *jobmodel.Job) { j.Status = jobmodel.DryRun }, "validation.csv", 200},
		{"report key outside the job is never offered", func(j *jobmodel.Job) {
			j.Status = jobmodel.Done
			j.ReportKey = jobfiles.ReportKey(tenantB, j.ID)
		}, "", http.StatusConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := jobFixture(t, tenantA, "", tt.mutate)
			if tt.object != "" {
				putObject(t, stack.JobsBucket, jobfiles.JobPrefix(tenantA, j.ID)+tt.object, report)
			}
			r := call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs/" + j.ID + "/report"})
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.wantStatus, r.body)
			}
			var v JobView
			call(t, h, apiCall{tenant: tenantA, method: "GET", path: "/jobs/" + j.ID}).json(t, &v)
			if v.ReportAvailable != (tt.wantStatus == 200) {
				t.Errorf("report_available = %v", v.ReportAvailable)
			}
			if tt.wantStatus != 200 {
				if code := r.errorCode(t); code != codeNotReady {
					t.Errorf("code = %q", code)
				}
				return
			}
			var link ReportLink
			r.json(t, &link)
			resp, body := get(t, "GET", link.URL, nil, "")
			if resp.StatusCode != 200 || body != report {
				t.Fatalf("GET report: %s %q", resp.Status, body)
			}
			if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, link.Name) {
				t.Errorf("Content-Disposition = %q, name %q", cd, link.Name)
			}
		})
	}
}

// TestValidatePeerExport: another PBX's export is shown mapped, with its
// column report, and none of its secrets comes back.
func TestValidatePeerExport(t *testing.T) {
	h := newTestHandler(t)
	body, err := os.ReadFile("../peers/testdata/freepbx-extensions.csv")
	if err != nil {
		t.Fatal(err)
	}
	r := call(t, h, apiCall{tenant: tenantA, method: "POST", path: "/validate", contentType: "text/csv", body: string(body)})
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var rep ValidateResponse
	r.json(t, &rep)
	if rep.Source == nil || rep.Source.Peer != "freepbx-extensions" || len(rep.Source.Columns) != 30 {
		t.Fatalf("source = %+v", rep.Source)
	}
	// Ann's and Bruno's outbound caller IDs are FreePBX numbers this tenant
	// does not own (nor is allowed to show): refused on caller_id only, the
	// rows otherwise mapped (issue #17's caller ID rule).
	if rep.Rows != 5 || rep.Valid != 1 || rep.Skipped != 2 || rep.Grid == nil || len(rep.Grid.Rows) != 3 {
		t.Fatalf("rows=%d valid=%d skipped=%d grid=%+v", rep.Rows, rep.Valid, rep.Skipped, rep.Grid)
	}
	for _, e := range rep.Errors {
		if e.Column != "caller_id" {
			t.Errorf("error %+v, want only caller ID errors", e)
		}
	}
	if c := rep.Grid.Rows[1].Cells; c[1] != "Bruno" || c[2] != "Diaz" || c[3] != "bruno.diaz@example.com" {
		t.Errorf("Bruno's grid row = %q", c)
	}
	if strings.Contains(string(r.body), "FPX-sip-") || strings.Contains(string(r.body), "482713") {
		t.Error("a secret from the file is in the answer")
	}
}
