package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/localrun"
	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/softswitch"
	"github.com/bulkprov/bulkprov/internal/store"
)

// callsCacheTTL is Kamailio's cache of lookup answers in this test: the
// bound within which a deleted or changed user is refused or followed.
const callsCacheTTL = 2 * time.Second

// callsSlack is what the bound may be exceeded by: htable's expiry has
// one-second resolution.
const callsSlack = time.Second

// TestCallsThroughKamailio: users created from one CSV by `bulkprov run`
// register with the credentials of their phone files on a real Kamailio
// fed by the SIP lookup API, call each other by extension, and take a call
// to their DID; wrong and foreign credentials are refused; an update and a
// deletion are followed within the cache bound.
func TestCallsThroughKamailio(t *testing.T) {
	needBinaries(t, map[string]string{"kamailio": "kamailio", "baresip": "baresip-core"})
	c := &callsScenario{t: t, ctx: withTimeout(t, 10*time.Minute), state: t.TempDir(), work: t.TempDir()}
	c.sipPort = freePort(t)
	c.trunkPort = freePort(t)
	c.createTenants()
	c.startLookupAndKamailio()
	c.callExtension()
	c.callDID()
	c.refuseForeignCredentials()
	c.followUpdate()
	c.followDeletion()
}

// callsScenario is the state TestCallsThroughKamailio's steps share, in
// the order the steps fill it.
type callsScenario struct {
	t                  *testing.T
	ctx                context.Context
	state, work        string
	sipPort, trunkPort int
	ann, bruno, bea    phoneAccount // from the phone files: acme's 100 and 101, beta's 100
	p                  *localrun.Pipeline
	token              string
	lookupLog          syncBuffer
	annUA, brunoUA     *ua
	carrier            *ua
}

// createTenants is step 1: two tenants, each from its CSV, through the
// CLI. The phones' outbound proxy is this machine's Kamailio; the
// registrar (SIP domain) stays the tenant's own (sip.<tenant>.pbx.example).
func (c *callsScenario) createTenants() {
	t := c.t
	settings := filepath.Join(c.work, "settings.json")
	must(t, os.WriteFile(settings, fmt.Appendf(nil,
		`{"provisioning":{"proxy":"127.0.0.1","port":%d,"transport":"udp"}}`, c.sipPort), 0o600))
	run := func(tenant, csv string) string {
		out := filepath.Join(c.work, "out-"+tenant)
		var stdout, stderr bytes.Buffer
		code := dispatch(c.ctx, []string{"run", "--tenant", tenant, "--state", c.state, "--settings", settings,
			"--create-dids", "--welcome", "none", "--out", out, filepath.Join("testdata", "calls", csv)}, &stdout, &stderr)
		if code != exitOK {
			t.Fatalf("bulkprov run --tenant %s: exit %d\n%s\n%s", tenant, code, stdout.String(), stderr.String())
		}
		return out
	}
	outAcme, outBeta := run("acme", "acme.csv"), run("beta", "beta.csv")
	phone := func(out, tenant, mac string) phoneAccount {
		return readYealink(t, filepath.Join(out, "provisioning", tenant, mac+".cfg"))
	}
	c.ann, c.bruno = phone(outAcme, "acme", "001565c00064"), phone(outAcme, "acme", "001565c00065")
	c.bea = phone(outBeta, "beta", "001565c00164")
	for _, a := range []phoneAccount{c.ann, c.bruno, c.bea} {
		if a.Proxy != "127.0.0.1" || a.ProxyPort != c.sipPort || a.Transport != "udp" {
			t.Fatalf("phone file %s: proxy %s:%d %s, want the settings' 127.0.0.1:%d udp", a.User, a.Proxy, a.ProxyPort, a.Transport, c.sipPort)
		}
	}
	if c.ann.User != "100-acme" || c.bruno.User != "101-acme" || c.bea.User != "100-beta" || c.ann.Registrar != "sip.acme.pbx.example" {
		t.Fatalf("phone files: %s %s %s at %s", c.ann.User, c.bruno.User, c.bea.User, c.ann.Registrar)
	}
}

// startLookupAndKamailio is step 2: the read path on the records the runs
// created, and Kamailio.
func (c *callsScenario) startLookupAndKamailio() {
	t := c.t
	p, err := localrun.Start(c.ctx, localrun.Config{Tenant: "acme", StateDir: c.state})
	if err != nil {
		t.Fatal(err)
	}
	c.p = p
	t.Cleanup(func() { _ = p.Close() })
	c.token, err = softswitch.NewToken()
	must(t, err)
	h := newSIPLookupHandler(p.Stack, nil, []string{softswitch.TokenHash(c.token)}, slog.New(slog.NewJSONHandler(&c.lookupLog, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if t.Failed() {
			t.Logf("---- lookup log ----\n%s", tail(c.lookupLog.String(), 4000))
		}
	})
	lookupURL := "http://" + ln.Addr().String()

	// HA1 on the wire, never the secret: the lookup's HA1 is MD5 over the
	// phone file's password.
	body := httpGet(t, lookupURL+softswitch.PathAuth+"?user=100-acme&realm=sip.acme.pbx.example", c.token)
	if want := md5hex("100-acme:sip.acme.pbx.example:" + c.ann.Password); !strings.Contains(body, `"ha1":"`+want+`"`) {
		t.Fatalf("auth lookup %s: want ha1 %s", body, want)
	}
	if strings.Contains(body, c.ann.Password) || strings.Contains(c.lookupLog.String(), c.ann.Password) {
		t.Fatal("the clear SIP secret is in the lookup's answer or log")
	}

	kamDir := t.TempDir()
	cfg, err := softswitch.RenderKamailio(softswitch.KamailioConfig{
		Address: "127.0.0.1", Port: c.sipPort, Transports: []string{"udp", "tcp"}, TrunkPort: c.trunkPort,
		LookupURL: lookupURL, Token: c.token, CacheTTL: callsCacheTTL, Debug: 2,
	})
	must(t, err)
	cfgPath := filepath.Join(kamDir, "kamailio.cfg")
	must(t, os.WriteFile(cfgPath, cfg, 0o600))
	kam := startProc(t, "kamailio", "-DD", "-E", "-f", cfgPath, "-Y", kamDir, "-m", "32", "-M", "4")
	waitTCP(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(c.sipPort)), kam, 30*time.Second)
}

// callExtension is step 3: both phones register with their files'
// credentials; 100 calls 101.
func (c *callsScenario) callExtension() {
	t := c.t
	c.annUA, c.brunoUA = startUA(t, "100-acme", accountFromPhone(c.ann)), startUA(t, "101-acme", accountFromPhone(c.bruno))
	for _, u := range []*ua{c.annUA, c.brunoUA} {
		if ev := u.await(t, 30*time.Second, "REGISTER_OK", "REGISTER_FAIL"); ev.Type != "REGISTER_OK" {
			t.Fatalf("%s: %s %s", u.name, ev.Type, ev.Param)
		}
	}
	if answered, status := c.annUA.call(t, "101", c.brunoUA); !answered {
		t.Fatalf("100 calling extension 101: %s", status)
	}
	t.Logf("100-acme and 101-acme registered with their phone files' credentials; 100 called extension 101 and 101 answered")
}

// callDID is step 4: a carrier's INVITE to 101's DID rings 101's phone.
func (c *callsScenario) callDID() {
	t := c.t
	c.carrier = startUA(t, "carrier", uaAccount{AOR: "sip:carrier@127.0.0.1",
		Outbound: fmt.Sprintf("sip:127.0.0.1:%d;transport=udp", c.trunkPort)})
	if answered, status := c.carrier.call(t, c.didURI("+14155550101"), c.brunoUA); !answered {
		t.Fatalf("carrier calling DID +14155550101: %s", status)
	}
	if answered, status := c.carrier.call(t, c.didURI("+14155550188"), nil); answered || !strings.Contains(status, "404") {
		t.Errorf("call to an unassigned DID: answered=%v %q, want 404", answered, status)
	}
	t.Logf("an INVITE to DID +14155550101 was routed to 101-acme's phone and answered")
}

// didURI is a carrier's request URI for did, on Kamailio's trunk port.
func (c *callsScenario) didURI(did string) string {
	return fmt.Sprintf("sip:%s@127.0.0.1:%d", did, c.trunkPort)
}

// register registers a new phone with acc and returns REGISTER_OK or
// REGISTER_FAIL.
func (c *callsScenario) register(name string, acc uaAccount) string {
	u := startUA(c.t, name, acc)
	ev := u.await(c.t, 30*time.Second, "REGISTER_OK", "REGISTER_FAIL")
	u.proc.stop()
	return ev.Type
}

// refuseForeignCredentials is step 5: refused are a wrong password,
// another tenant's credentials or domain, a bare extension. beta's own
// phone registers (the control).
func (c *callsScenario) refuseForeignCredentials() {
	t := c.t
	wrong := accountFromPhone(c.ann)
	wrong.Password = flipFirst(c.ann.Password)
	acmeAtBeta := accountFromPhone(c.ann)
	acmeAtBeta.AOR = strings.Replace(acmeAtBeta.AOR, "sip.acme.pbx.example", "sip.beta.pbx.example", 1)
	betaAsAcme := accountFromPhone(c.bea)
	betaAsAcme.AOR = strings.Replace(strings.Replace(betaAsAcme.AOR, "100-beta", "100-acme", 1), "sip.beta.", "sip.acme.", 1)
	betaAsAcme.AuthUser = "100-acme"
	bare := accountFromPhone(c.ann)
	bare.AOR, bare.AuthUser = strings.Replace(bare.AOR, "100-acme@", "100@", 1), "100"
	for name, acc := range map[string]uaAccount{
		"wrong password":                      wrong,
		"acme's user at beta's domain":        acmeAtBeta,
		"100-acme with beta's 100's password": betaAsAcme,
		"bare extension 100":                  bare,
	} {
		if got := c.register(name, acc); got != "REGISTER_FAIL" {
			t.Errorf("%s: %s, want REGISTER_FAIL", name, got)
		}
	}
	if got := c.register("100-beta", accountFromPhone(c.bea)); got != "REGISTER_OK" {
		t.Errorf("beta's own phone: %s, want REGISTER_OK", got)
	}
}

// followUpdate is step 6: on-existing=update moves 101's DID: the old
// number stops ringing 101 within the bound, the new one rings it; 101's
// phone file keeps working (an update regenerates no secret).
func (c *callsScenario) followUpdate() {
	t := c.t
	key, err := c.p.UploadFile(c.ctx, filepath.Join("testdata", "calls", "acme-update.csv"), map[string]string{pbx.MetaOnExisting: "update", pbx.MetaCreateDIDs: "true"})
	must(t, err)
	jobs, err := c.p.JobsFor(c.ctx, key)
	must(t, err)
	if len(jobs) != 1 || jobs[0].Status != jobmodel.Done {
		t.Fatalf("update jobs %+v", jobs)
	}
	changed := time.Now()
	took := pollUntilRefused(t, c.carrier, c.didURI("+14155550101"), c.brunoUA, changed)
	t.Logf("DID +14155550101 moved away by on-existing=update: the first call refused (404) started %.2fs after the job finished (bound %s + %s)", took.Seconds(), callsCacheTTL, callsSlack)
	if answered, status := c.carrier.call(t, c.didURI("+14155550111"), c.brunoUA); !answered {
		t.Errorf("the moved-to DID +14155550111: %s", status)
	}
	if got := c.register("101-acme again", accountFromPhone(c.bruno)); got != "REGISTER_OK" {
		t.Errorf("101's phone file after the update: %s, want REGISTER_OK", got)
	}
}

// followDeletion is step 7: a user deleted from the table: calls to it are
// refused within the bound (primed cache first, so this measures the worst
// case), then its phone can no longer register, and its DID no longer
// routes.
func (c *callsScenario) followDeletion() {
	t := c.t
	if answered, status := c.brunoUA.call(t, "100", c.annUA); !answered {
		t.Fatalf("101 calling 100 before the deletion: %s", status)
	}
	deleteUser(t, c.ctx, c.p.Stack.Clients.DynamoDB, c.p.Stack.Table, "acme", "100")
	deleted := time.Now()
	took := pollUntilRefused(t, c.brunoUA, "100", c.annUA, deleted)
	t.Logf("user 100-acme deleted: the first call to extension 100 refused (404) started %.2fs after the deletion (bound %s + %s)", took.Seconds(), callsCacheTTL, callsSlack)
	time.Sleep(time.Until(deleted.Add(callsCacheTTL + time.Second)))
	if got := c.register("100-acme after deletion", accountFromPhone(c.ann)); got != "REGISTER_FAIL" {
		t.Errorf("deleted user's phone: %s, want REGISTER_FAIL", got)
	}
	if answered, status := c.carrier.call(t, c.didURI("+14155550100"), nil); answered || !strings.Contains(status, "404") {
		t.Errorf("the deleted user's DID: answered=%v %q, want 404", answered, status)
	}
}

// pollUntilRefused calls target until the call is refused with 404 and
// returns when, after since, the refused attempt started. It fails when an
// attempt that started later than the bound was still answered: an
// answered call was routed before Kamailio's cache expired, so its start
// is a lower bound of that moment whatever the machine's load.
func pollUntilRefused(t *testing.T, from *ua, target string, callee *ua, since time.Time) time.Duration {
	t.Helper()
	for {
		start := time.Since(since)
		answered, status := from.call(t, target, callee)
		if !answered && strings.Contains(status, "404") {
			return start
		}
		if !answered {
			t.Fatalf("%s: %q while waiting for 404", target, status)
		}
		if start > callsCacheTTL+callsSlack {
			t.Fatalf("%s: a call started %s after the change was still answered (bound %s + %s)", target, start, callsCacheTTL, callsSlack)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// deleteUser removes every item of tenant that names extension ext or its
// SIP user, as an operator deleting the user in the table would; it knows
// no item type, only that keys end in #<ext> or #<sip user>.
func deleteUser(t *testing.T, ctx context.Context, db *dynamodb.Client, table, tenant, ext string) {
	t.Helper()
	pk := store.TenantPK(tenant)
	suffixes := []string{"#" + ext, "#" + pbx.SIPUserName(ext, tenant)}
	pages := dynamodb.NewQueryPaginator(db, &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": store.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ProjectionExpression:      aws.String("#pk, SK"),
	})
	n := 0
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		must(t, err)
		for _, item := range page.Items {
			sk := item[store.AttrSK].(*types.AttributeValueMemberS).Value
			for _, s := range suffixes {
				if strings.HasSuffix(sk, s) {
					_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
						Key: map[string]types.AttributeValue{store.AttrPK: item[store.AttrPK], store.AttrSK: item[store.AttrSK]}})
					must(t, err)
					n++
				}
			}
		}
	}
	if n == 0 {
		t.Fatalf("no item of %s/%s to delete", tenant, ext)
	}
}

func httpGet(t *testing.T, u, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	must(t, err)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %s: %v", u, b, err)
	}
	return string(b)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// flipFirst changes a password's first character.
func flipFirst(s string) string {
	if s[0] == 'a' {
		return "b" + s[1:]
	}
	return "a" + s[1:]
}
