package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/infra/statemachine"
	"github.com/bulkprov/bulkprov/internal/jobmodel"
	"github.com/bulkprov/bulkprov/internal/local/stepfn"
)

// expressPhase2 is the design before issue #18: phase 2's children EXPRESS,
// SendWelcome's TimeoutSeconds 900 (the file as it was, otherwise unchanged).
func expressPhase2(t *testing.T) []byte {
	t.Helper()
	var def map[string]any
	if err := json.Unmarshal(statemachine.Definition(), &def); err != nil {
		t.Fatal(err)
	}
	send := def["States"].(map[string]any)["SendWelcomeEmails"].(map[string]any)
	proc := send["ItemProcessor"].(map[string]any)
	proc["ProcessorConfig"].(map[string]any)["ExecutionType"] = "EXPRESS"
	proc["States"].(map[string]any)["SendWelcome"].(map[string]any)["TimeoutSeconds"] = 900
	b, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSlowSESAccount runs a batch of 40 users against an SES sandbox
// account (MaxSendRate 1/s) with 8 concurrent phase 2 children, each taking
// its share (0.125/s), so one batch's emails take 320 s. The clock of phase 2 runs 20x fast (TimeScale 0.05, the EXPRESS
// limit and SES's rate scaled the same way); everything else is the real
// pipeline.
//
// With phase 2 children EXPRESS (the old design) the child is stopped at 5
// minutes with States.Timeout, exactly as on AWS, and emails fail; the
// local engine refuses to even load that design without
// AllowLongExpressChildren. With the deployed file (phase 2 STANDARD) the
// same job sends every email.
func TestSlowSESAccount(t *testing.T) {
	csv := writeSlowCSV(t)
	if _, err := stepfn.Load(expressPhase2(t), stepfn.Options{Substitutions: map[string]string{
		"CreateRecordsFunctionArn": "a", "WriteProvisioningFunctionArn": "b", "SendWelcomeFunctionArn": "c", "FinalizeFunctionArn": "d",
	}, Tasks: map[string]stepfn.Handler{"a": never, "b": never, "c": never, "d": never}, S3: nilS3{}}); err == nil ||
		!strings.Contains(err.Error(), `state "SendWelcomeEmails": an EXPRESS child can run`) {
		t.Fatalf("Load of EXPRESS phase 2 = %v, want refused for outliving 5 minutes", err)
	}

	t.Run("EXPRESS children time out as on AWS", func(t *testing.T) {
		job, failures, sent := runSlowSES(t, csv, expressPhase2(t))
		if len(failures) != 1 || failures[0].State != "SendWelcomeEmails" || failures[0].Error != stepfn.ErrTimeout ||
			!strings.Contains(failures[0].Cause, "longer than 5m0s") {
			t.Fatalf("map failures = %+v, want the phase 2 child stopped with States.Timeout", failures)
		}
		if job.Counts.Created != slowRows || job.Counts.EmailsSent == slowRows || job.Counts.EmailsFailed == 0 || job.Status == jobmodel.Done {
			t.Errorf("job = %s %+v, want %d created and failed emails", job.Status, job.Counts, slowRows)
		}
		if sent >= slowRows {
			t.Errorf("%d messages sent, want fewer than %d (the child was stopped)", sent, slowRows)
		}
	})
	t.Run("STANDARD children (the deployed file) send every email", func(t *testing.T) {
		job, failures, sent := runSlowSES(t, csv, nil)
		if len(failures) != 0 {
			t.Fatalf("map failures = %+v, want none", failures)
		}
		if job.Status != jobmodel.Done || job.Counts.Created != slowRows || job.Counts.EmailsSent != slowRows || sent != slowRows {
			t.Errorf("job = %s %+v, %d sent; want DONE with %d created and emailed", job.Status, job.Counts, sent, slowRows)
		}
	})
}

// TestSlowSESAccount's job: slowRows users, phase 2 on a clock slowScale
// times as long.
const (
	slowRows  = 40
	slowScale = 0.05
)

// writeSlowCSV writes the upload of slowRows users.
func writeSlowCSV(t *testing.T) string {
	t.Helper()
	csv := filepath.Join(t.TempDir(), "slow.csv")
	var b strings.Builder
	b.WriteString("Extension,First Name,Last Name,Email\n")
	for i := range slowRows {
		fmt.Fprintf(&b, "%d,User,N%d,user%d@acme.example\n", 2000+i, i, i)
	}
	if err := os.WriteFile(csv, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return csv
}

// runSlowSES runs csv through a pipeline with definition def (nil: the
// deployed file) on the sandbox SES account, and returns the job, the Map
// iterations that failed and how many emails were sent.
func runSlowSES(t *testing.T, csv string, def []byte) (jobmodel.Job, []stepfn.Event, int) {
	var mu sync.Mutex
	var failures []stepfn.Event
	out := t.TempDir()
	begin := time.Now()
	p, err := Start(context.Background(), Config{
		Tenant: "acme", OutboxDir: filepath.Join(out, "outbox"),
		Definition: def, AllowLongExpressChildren: def != nil, TimeScale: slowScale,
		// Phase 1 and finalize do their work at DynamoDB Local's speed.
		RealTimeStates:     []string{"CreateRecords", "WriteProvisioning", "Finalize"},
		SESMaxSendRate:     1 / slowScale, // the sandbox's 1 message/s on the fast clock
		WelcomeConcurrency: 8,
		OnEvent: func(ev stepfn.Event) {
			if ev.Type == stepfn.EventMapIterationFailed {
				mu.Lock()
				failures = append(failures, ev)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stack started in %s", time.Since(begin))
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	start := time.Now()
	job := runFile(t, p, csv, nil, out)
	t.Logf("job ran in %s", time.Since(start))
	sent, err := p.Stack.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return job, append([]stepfn.Event(nil), failures...), len(sent)
}

func never(context.Context, json.RawMessage) (json.RawMessage, error) { panic("not run") }

// nilS3 satisfies stepfn.ObjectReader for a Load that never runs.
type nilS3 struct{ stepfn.ObjectReader }
