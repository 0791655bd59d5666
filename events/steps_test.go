package events

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"
)

// TestGoldenPayloads decodes each sample payload into its type strictly
// (unknown fields fail) and checks that encoding it again gives the same
// JSON, so the samples and the types cannot drift apart.
func TestGoldenPayloads(t *testing.T) {
	for file, newValue := range map[string]func() any{
		"job-input.json":      func() any { return new(JobInput) },
		"records-batch.json":  func() any { return new(RecordsBatch) },
		"batch-result.json":   func() any { return new(BatchResult) },
		"welcome-input.json":  func() any { return new(WelcomeInput) },
		"welcome-output.json": func() any { return new(WelcomeOutput) },
		"finalize-input.json": func() any { return new(FinalizeInput) },
	} {
		t.Run(file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			v := newValue()
			dec := json.NewDecoder(bytes.NewReader(want))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("decode: %v", err)
			}
			got, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			var a, b any
			if err := json.Unmarshal(want, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &b); err != nil {
				t.Fatal(err)
			}
			wantNorm, _ := json.Marshal(a)
			gotNorm, _ := json.Marshal(b)
			if !bytes.Equal(wantNorm, gotNorm) {
				t.Errorf("round trip changed the payload\nwant %s\ngot  %s", wantNorm, gotNorm)
			}
			if len(got) > 256<<10 {
				t.Errorf("payload is %d bytes, over Step Functions' 256 KiB", len(got))
			}
		})
	}
}

func TestSampleS3Event(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "s3-object-created.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev lambdaevents.S3Event
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 1 {
		t.Fatalf("records = %d", len(ev.Records))
	}
	r := ev.Records[0]
	if r.EventName != "ObjectCreated:Put" || r.S3.Bucket.Name != "bulkprov-uploads" ||
		r.S3.Object.Key != "tenants/acme/staff+2026-11.csv" || r.S3.Object.VersionID == "" || r.S3.Object.Sequencer == "" {
		t.Fatalf("unexpected event: %+v", r)
	}
}

// TestWelcomeOutputHandled: every row send-welcome handled is counted once
// (an uncertain email is also a failed one), so Handled is 0 only when the
// run found no row: the portal's resend looks for its user batch by batch.
func TestWelcomeOutputHandled(t *testing.T) {
	for _, tc := range []struct {
		out  WelcomeOutput
		want int
	}{
		{WelcomeOutput{}, 0},
		{WelcomeOutput{Sent: 1}, 1},
		{WelcomeOutput{Failed: 1, Uncertain: 1}, 1},
		{WelcomeOutput{Sent: 44, AlreadySent: 2, Failed: 2, Uncertain: 1, Deferred: 3, Held: 1}, 52},
	} {
		if got := tc.out.Handled(); got != tc.want {
			t.Errorf("%+v.Handled() = %d, want %d", tc.out, got, tc.want)
		}
	}
}
