package localrun

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/internal/jobmodel"
)

// TestPipelinePhoneModels is issue 16's report through the whole local
// pipeline (as `bulkprov run` does): one row per family, each phone's file
// in its own model's format, each model's bootstrap file, the tenant's
// default only for the row without a phone_model, and an unknown model an
// invalid row that names the supported models.
func TestPipelinePhoneModels(t *testing.T) {
	ctx := context.Background()
	out := t.TempDir()
	p, err := Start(ctx, Config{Tenant: "acme", OutboxDir: filepath.Join(out, "outbox"), Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	job := runFile(t, p, filepath.Join("testdata", "phones.csv"), nil, out)
	if job.Counts.Created != 8 || job.Counts.Provisioned != 8 || job.Counts.Invalid != 1 {
		t.Fatalf("job = %s %+v, want 8 created, 8 phones, 1 invalid", job.Status, job.Counts)
	}
	rows := report(t, out, job.ID)
	last := rows[len(rows)-1]
	if last["line"] != "10" || last["status"] != "invalid" || !strings.Contains(last["message"], "supported models: cisco-mpp6851") {
		t.Errorf("unknown model row = %v", last)
	}
	if err := p.ExportProvisioning(ctx, out); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "provisioning", "acme")
	want := map[string]string{
		"001565600000.cfg":          "account.1.user_name = 600-acme\n",
		"0004f2600001.cfg":          `CONFIG_FILES="0004f2600001-bulkprov.cfg"`,
		"0004f2600001-bulkprov.cfg": `reg.1.address="601-acme"`,
		"cfg000b82600002.xml":       "<P35>602-acme</P35>",
		"001c58600003.xml":          "<User_ID_1_>603-acme</User_ID_1_>",
		"001c58600004.xml":          "<User_ID_1_>604-acme</User_ID_1_>",
		"000413600005.xml":          `<user_name idx="1" perm="R">605-acme</user_name>`,
		"0c383e600006.cfg":          "<sysConf>",
		"001565600007.cfg":          "account.1.user_name = 607-acme\n",
		"y000000000096.cfg":         "#!version:1.0.0.1",
		"8851-3PCC.xml":             "<Profile_Rule>" + LocalProvisioningURL + "/acme/$MA.xml</Profile_Rule>",
		"spa504G.cfg":               "<Profile_Rule>" + LocalProvisioningURL + "/acme/$MA.xml</Profile_Rule>",
		"snomD785.htm":              "<setting_server perm=\"RW\">" + LocalProvisioningURL + "/acme/{mac}.xml</setting_server>",
	}
	for name, fragment := range want {
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Contains(body, []byte(fragment)) {
			t.Errorf("%s lacks %q:\n%s", name, fragment, body)
		}
	}
	if body, _ := os.ReadFile(filepath.Join(dir, "0c383e600006.cfg")); !bytes.Contains(body, []byte("<PhoneNumber>606-acme</PhoneNumber>")) {
		t.Errorf("Fanvil file:\n%s", body)
	}
	if job.Status != jobmodel.Partial && job.Status != jobmodel.Done {
		t.Errorf("job status %s", job.Status)
	}
}
