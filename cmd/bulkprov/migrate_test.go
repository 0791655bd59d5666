package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const peerSamples = "../../internal/peers/testdata"

func sample(name string) string { return filepath.Join(peerSamples, name) }

// runCmd runs a bulkprov command in-process and returns its exit code and output.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := dispatch(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// migratedNumbers gives tenant acme, in the kept state, the numbers the
// samples use, as an operator moving a tenant would first: the DIDs (in
// the inventory, assigned to acme) and the caller IDs that are not DIDs.
func migratedNumbers(t *testing.T, state string) {
	t.Helper()
	dids := []string{"+14155550101", "+14155550102", "+14155550201", "+14155550801", "+14155552001"}
	if code, out, errOut := runCmd(t, append([]string{"did", "add", "--state", state, "--tenant", "acme"}, dids...)...); code != exitOK {
		t.Fatalf("did add exit %d: %s %s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, "did", "allow", "--state", state, "--tenant", "acme",
		"--caller-ids", "+14155550121,+14155550501,+14155550601,+13105552020"); code != exitOK {
		t.Fatalf("did allow exit %d: %s %s", code, out, errOut)
	}
}

// TestMigrateEveryPeer imports each peer's sample unchanged, companions
// after their users file, in one run; export then shows the users a careful
// admin expects, and no secret from the files reaches any output.
func TestMigrateEveryPeer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack")
	}
	state, out := t.TempDir(), t.TempDir()
	migratedNumbers(t, state)
	files := []string{
		"freepbx-extensions.csv", "freepbx-dids.csv", "3cx-extensions.csv", "wazo-users.csv",
		"kazoo-users.csv", "kazoo-users-devices.csv", "fusionpbx-extensions.csv", "fusionpbx-devices.csv",
		"fspbx-extensions.csv", "fspbx-template.csv", "issabel-extensions.csv", "switchvox-extensions.csv",
		"vodia-accounts.csv", "yeastar-pseries-extensions.csv",
	}
	args := []string{"run", "--tenant", "acme", "--state", state, "--out", out, "--create-dids"}
	for _, f := range files {
		args = append(args, sample(f))
	}
	code, stdout, stderr := runCmd(t, args...)
	// The FusionPBX devices file names extension 1599, which has no user:
	// that row fails (no_such_user), so the run exits 1; everything else is created.
	if code != exitFailed {
		t.Fatalf("run exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, csvOut, stderr := runCmd(t, "export", "--tenant", "acme", "--state", state)
	if code != exitOK {
		t.Fatalf("export exit %d: %s", code, stderr)
	}
	checkMigratedUsers(t, csvOut)
	checkNoSampleSecret(t, files, out)
	checkPeersInSummaries(t, out, 12)
	checkExportRoundTrip(t, state, csvOut)
}

// checkMigratedUsers: the export shows each migrated user as a careful
// admin expects, and nothing that is not a SIP user.
func checkMigratedUsers(t *testing.T, csvOut string) {
	t.Helper()
	want := map[string]string{ // extension → the row export must show
		"1001": `1001,Ann,Lee,ann.lee@example.com,,+14155550101,,+14155550101,,`,
		"1002": `1002,Bruno,Diaz,bruno.diaz@example.com,,+14155550102,,+14155550102,,`,
		"1003": `1003,Conference,Room,,,,,,,`,
		"1101": `1101,Carla,Mendes,carla.mendes@example.com,+14155550111,,001565a11101,+14155550121,yealink-t54w,`,
		"1102": `1102,Dev,Patel,dev.patel@example.com,,,,,,`,
		"1201": `1201,Élodie,Martin,elodie.martin@example.com,+14155550212,+14155550201,,+14155550201,,`,
		"1202": `1202,Jonas,Weber,jonas.weber@example.com,,,,,,`,
		"1301": `1301,Michael,Scott,michael.scott@example.com,,,,,,`,
		"1401": `1401,Jim,Halpert,jim.halpert@example.com,,,805ec0140101,,yealink-t54w,`,
		"1402": `1402,Dwight,Schrute,dwight.schrute@example.com,,,805ec0140102,,polycom-vvx450,`,
		"1403": `1403,Andy,Bernard,andy.bernard@example.com,,,805ec0140103,,yealink-t54w,`,
		"1302": `1302,Pam,Beesly,pam.beesly@example.com,,,,,,`,
		"1501": `1501,Grace,Hopper,,,,0015651a1501,+14155550501,yealink-t53w,`,
		"1502": `1502,Ada,Lovelace,,,,0004f2a11502,,polycom-vvx450,`,
		"1601": `1601,Katherine,Johnson,katherine.johnson@example.com,,,,+14155550601,,`,
		"1602": `1602,Dorothy,Vaughan,dorothy.vaughan@example.com,,,,,,`,
		"1702": `1702,Mary,Jackson,mary.jackson@example.com,,,,,,`,
		"1902": `1902,Miles,Davis,miles.davis@example.com,,,,,,`,
		"2002": `2002,Tu,Youyou,tu.youyou@example.com,,,,,,`,
		"1701": `1701,Alice,Johnson,alice.johnson@example.com,,,00259ccf1701,+13105552020,yealink-t54w,`,
		"1801": `1801,Rosa,Parks,rosa.parks@example.com,,+14155550801,,+14155550801,,`,
		"1901": `1901,Nina,Simone,nina.simone@example.com,,,000fd3011901,,yealink-t54w,`,
		"2001": `2001,Ada,Yonath,ada.yonath@example.com,+14155552101,+14155552001,0004f2a12001,,yealink-t54w,`,
		"2101": `2101,Li,Wei,li.wei@example.com,+14155552111,,,,,Marketing Center`,
		"2102": `2102,Mei,Chen,mei.chen@example.com,,,,,,Support Team`,
	}
	lines := strings.Split(strings.TrimSpace(csvOut), "\n")
	if lines[0] != "extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department" {
		t.Fatalf("header %q", lines[0])
	}
	got := map[string]string{}
	for _, l := range lines[1:] {
		got[strings.SplitN(l, ",", 2)[0]] = l
	}
	for ext, line := range want {
		if got[ext] != line {
			t.Errorf("export of %s:\n got %s\nwant %s", ext, got[ext], line)
		}
	}
	// Not SIP users, deletes and other PBXs' non-user entries: never created.
	for _, ext := range []string{"1090", "1091", "1203", "1802", "1599"} {
		if _, ok := got[ext]; ok {
			t.Errorf("extension %s was created", ext)
		}
	}
	if n := len(lines) - 1; n != 25 {
		t.Errorf("export has %d users, want 25:\n%s", n, csvOut)
	}
}

// checkNoSampleSecret: no secret of any sample reaches a report, a log, an
// email or the table dump in out.
func checkNoSampleSecret(t *testing.T, files []string, out string) {
	t.Helper()
	secretRE := regexp.MustCompile(`(FPX|CX|WZ|KZ|FU|IS|SV|VD|YS)-(sip|auth|portal|vm|prov|web|reg|user)-[A-Za-z0-9]+`)
	var secrets []string
	for _, f := range files {
		b, err := os.ReadFile(sample(f))
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secretRE.FindAllString(string(b), -1)...)
	}
	if len(secrets) < 20 {
		t.Fatalf("found only %d sample secrets", len(secrets))
	}
	err := filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %s from a sample appears in %s", s, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkPeersInSummaries: the column report names the peer in each job's
// summary.json, want peers in all.
func checkPeersInSummaries(t *testing.T, out string, want int) {
	t.Helper()
	sums, _ := filepath.Glob(filepath.Join(out, "jobs", "*", "summary.json"))
	peersSeen := map[string]bool{}
	for _, s := range sums {
		b, _ := os.ReadFile(s)
		var v struct {
			Source struct {
				Peer string `json:"peer"`
			} `json:"source"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		peersSeen[v.Source.Peer] = true
	}
	if len(peersSeen) != want {
		t.Errorf("summary.json peers: %v", peersSeen)
	}
}

// checkExportRoundTrip: our own export re-imports (--on-existing update)
// and exports again byte for byte; the JSON export has the same users.
func checkExportRoundTrip(t *testing.T, state, csvOut string) {
	t.Helper()
	exported := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(exported, []byte(csvOut), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCmd(t, "run", "--tenant", "acme", "--state", state, "--out", t.TempDir(), "--on-existing", "update", exported)
	if code != exitOK {
		t.Fatalf("re-import exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, again, _ := runCmd(t, "export", "--tenant", "acme", "--state", state)
	if again != csvOut {
		t.Errorf("round trip changed the export:\nbefore:\n%s\nafter:\n%s", csvOut, again)
	}
	code, jsonOut, _ := runCmd(t, "export", "--tenant", "acme", "--state", state, "--format", "json")
	var users []map[string]string
	if code != exitOK || json.Unmarshal([]byte(jsonOut), &users) != nil || len(users) != 25 {
		t.Fatalf("json export (%d): %s", code, jsonOut)
	}
	if len(users[0]) != 10 || users[0]["extension"] != "1001" {
		t.Errorf("json user: %v", users[0])
	}
}

// TestNoRowsExit2: a header without data rows is unusable, for validate and run.
func TestNoRowsExit2(t *testing.T) {
	f := filepath.Join(t.TempDir(), "empty.csv")
	if err := os.WriteFile(f, []byte("extension,first_name,last_name,email\n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runCmd(t, "validate", "--tenant", "acme", f)
	if code != exitUsage || !strings.Contains(stdout, "no_rows") {
		t.Fatalf("validate exit %d: %s", code, stdout)
	}
	if testing.Short() {
		return
	}
	code, _, stderr := runCmd(t, "run", "--tenant", "acme", "--out", t.TempDir(), f)
	if code != exitUsage || !strings.Contains(stderr, "no_rows") {
		t.Fatalf("run exit %d: %s", code, stderr)
	}
}

// TestImportSecrets: with import-secrets the 3CX AuthPassword becomes the
// user's SIP secret (the phone's provisioning file carries it, as it would a
// generated one); it appears nowhere else.
func TestImportSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack")
	}
	state, out := t.TempDir(), t.TempDir()
	migratedNumbers(t, state)
	code, stdout, stderr := runCmd(t, "run", "--tenant", "acme", "--state", state, "--out", out, "--import-secrets", sample("3cx-extensions.csv"))
	if code != exitOK {
		t.Fatalf("run exit %d\n%s\n%s", code, stdout, stderr)
	}
	const secret = "CX-auth-Hq72LmPz91"
	found, pinMailed := false, false
	err := filepath.Walk(out, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		// The PIN is digits: base64 ciphertext in records.jsonl may hold any
		// digit run; and the user's own welcome email tells them their PIN,
		// imported or generated alike.
		pinOK := filepath.Base(path) == "records.jsonl" || strings.HasSuffix(path, ".eml")
		in := bytes.Contains(b, []byte(secret)) || (!pinOK && bytes.Contains(b, []byte("731946")))
		if strings.HasSuffix(path, ".eml") && bytes.Contains(b, []byte("731946")) {
			pinMailed = true // Carla's own PIN, imported, in her welcome email
		}
		switch {
		case strings.Contains(path, string(filepath.Separator)+"provisioning"+string(filepath.Separator)) && strings.Contains(path, "001565a11101"):
			found = found || bytes.Contains(b, []byte(secret))
		case in:
			t.Errorf("imported secret or PIN appears in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Error("the phone's provisioning file does not carry the imported SIP secret")
	}
	if !pinMailed {
		t.Error("no welcome email carries the imported voicemail PIN")
	}
}
