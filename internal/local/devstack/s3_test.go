package devstack_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
)

// recorder collects delivered events; it is the upload handler of a test.
type recorder struct {
	mu     sync.Mutex
	events []events.S3Event
	fail   error
}

func (r *recorder) handle(_ context.Context, ev events.S3Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	return r.fail
}

func (r *recorder) got() []events.S3Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.S3Event(nil), r.events...)
}

// useRecorder installs a fresh recorder and removes it when the test ends.
func useRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{}
	stack.SetUploadHandler(r.handle)
	t.Cleanup(func() {
		waitIdle(t)
		stack.SetUploadHandler(nil)
		stack.DuplicateDeliveries(0)
	})
	return r
}

func waitIdle(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stack.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
}

func put(t *testing.T, bucket, key, body string) *s3.PutObjectOutput {
	t.Helper()
	out, err := stack.Clients.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
	})
	if err != nil {
		t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return out
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestUploadEventMatchesS3(t *testing.T) {
	rec := useRecorder(t)
	body := "extension,first_name\n100,Ann\n"
	out := put(t, stack.UploadsBucket, "tenants/acme/users.csv", body)
	waitIdle(t)

	evs := rec.got()
	if len(evs) != 1 || len(evs[0].Records) != 1 {
		t.Fatalf("got %d events, want 1 with 1 record: %+v", len(evs), evs)
	}
	r := evs[0].Records[0]
	checks := []struct{ name, got, want string }{
		{"eventVersion", r.EventVersion, "2.1"},
		{"eventSource", r.EventSource, "aws:s3"},
		{"eventName", r.EventName, "ObjectCreated:Put"},
		{"awsRegion", r.AWSRegion, stack.Clients.Config.Region},
		{"bucket", r.S3.Bucket.Name, stack.UploadsBucket},
		{"bucket arn", r.S3.Bucket.Arn, "arn:aws:s3:::" + stack.UploadsBucket},
		{"key", r.S3.Object.Key, "tenants/acme/users.csv"},
		{"eTag", r.S3.Object.ETag, md5hex(body)},
		{"versionId", r.S3.Object.VersionID, aws.ToString(out.VersionId)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.S3.Object.VersionID == "" {
		t.Error("versionId is empty on the versioned uploads bucket")
	}
	if r.S3.Object.Size != int64(len(body)) {
		t.Errorf("size = %d, want %d", r.S3.Object.Size, len(body))
	}
	if time.Since(r.EventTime) > time.Minute || r.EventTime.Location() != time.UTC {
		t.Errorf("eventTime = %v, want now in UTC", r.EventTime)
	}
	if len(r.S3.Object.Sequencer) < 16 {
		t.Errorf("sequencer = %q, want ≥ 16 hex digits", r.S3.Object.Sequencer)
	}

	// What a Lambda receives is the JSON: it must decode back to the same key.
	raw, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	var decoded events.S3Event
	if err := json.Unmarshal(raw, &decoded); err != nil {
		t.Fatal(err)
	}
	if got := decoded.Records[0].S3.Object.URLDecodedKey; got != "tenants/acme/users.csv" {
		t.Errorf("decoded key = %q", got)
	}
}

func TestUploadEventSequencerIncreases(t *testing.T) {
	rec := useRecorder(t)
	for i := range 3 {
		put(t, stack.UploadsBucket, "tenants/acme/seq.csv", strings.Repeat("x", i+1))
		waitIdle(t) // one at a time: delivery order is not guaranteed, as on S3
	}
	evs := rec.got()
	if len(evs) != 3 {
		t.Fatalf("got %d events, want 3", len(evs))
	}
	for i := 1; i < len(evs); i++ {
		prev, cur := evs[i-1].Records[0].S3.Object, evs[i].Records[0].S3.Object
		if len(cur.Sequencer) != len(prev.Sequencer) || cur.Sequencer <= prev.Sequencer {
			t.Errorf("sequencer %q after %q does not increase", cur.Sequencer, prev.Sequencer)
		}
		if cur.VersionID == prev.VersionID {
			t.Errorf("two writes share version id %q", cur.VersionID)
		}
	}
}

func TestNoEventOutsideWatchedPrefix(t *testing.T) {
	rec := useRecorder(t)
	put(t, stack.UploadsBucket, "other/acme/users.csv", "a")
	put(t, stack.UploadsBucket, "tenantsacme/users.csv", "a")
	put(t, stack.JobsBucket, "tenants/acme/users.csv", "a")
	put(t, stack.ProvisioningBucket, "tenants/acme/users.csv", "a")
	waitIdle(t)
	if evs := rec.got(); len(evs) != 0 {
		t.Fatalf("got %d events, want none: %+v", len(evs), evs)
	}
}

func TestDuplicateDeliveries(t *testing.T) {
	rec := useRecorder(t)
	stack.DuplicateDeliveries(1)
	put(t, stack.UploadsBucket, "tenants/acme/dup.csv", "a,b\n")
	waitIdle(t)
	evs := rec.got()
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	a, _ := json.Marshal(evs[0])
	b, _ := json.Marshal(evs[1])
	if !bytes.Equal(a, b) {
		t.Errorf("duplicates differ:\n%s\n%s", a, b)
	}
}

func TestEventKeyEncodedLikeS3(t *testing.T) {
	rec := useRecorder(t)
	key := "tenants/acme/Staff list (1) é+ü.csv"
	put(t, stack.UploadsBucket, key, "x")
	waitIdle(t)
	evs := rec.got()
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1", len(evs))
	}
	o := evs[0].Records[0].S3.Object
	if want := "tenants/acme/Staff+list+%281%29+%C3%A9%2B%C3%BC.csv"; o.Key != want {
		t.Errorf("key = %q, want %q", o.Key, want)
	}
	if o.URLDecodedKey != key {
		t.Errorf("URLDecodedKey = %q, want %q", o.URLDecodedKey, key)
	}
}

func TestEncodeEventKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"tenants/acme/a.csv", "tenants/acme/a.csv"},
		{"a b", "a+b"},
		{"a+b", "a%2Bb"},
		{"x=1&y~z*", "x%3D1%26y%7Ez*"},
		{"ß/日本", "%C3%9F/%E6%97%A5%E6%9C%AC"},
		{"-_.", "-_."},
		{"%", "%25"},
	}
	for _, tt := range tests {
		if got := devstack.EncodeEventKey(tt.key); got != tt.want {
			t.Errorf("EncodeEventKey(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// The handler can read the object the event names, by key and version,
// as ingest does: delivery happens after the write is stored.
func TestHandlerReadsUploadedObject(t *testing.T) {
	body := "extension\n200\n"
	var got string
	var readErr error
	stack.SetUploadHandler(func(ctx context.Context, ev events.S3Event) error {
		o := ev.Records[0].S3.Object
		out, err := stack.Clients.S3.GetObject(ctx, &s3.GetObjectInput{
			Bucket: aws.String(ev.Records[0].S3.Bucket.Name), Key: aws.String(o.URLDecodedKey), VersionId: aws.String(o.VersionID),
		})
		if err != nil {
			readErr = err
			return err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		got, readErr = string(b), err
		return err
	})
	t.Cleanup(func() { stack.SetUploadHandler(nil) })
	put(t, stack.UploadsBucket, "tenants/acme/read me.csv", body)
	waitIdle(t)
	if readErr != nil || got != body {
		t.Fatalf("handler read %q, %v; want %q", got, readErr, body)
	}
}

func TestHandlerErrorsAreRecorded(t *testing.T) {
	rec := useRecorder(t)
	rec.fail = errors.New("boom")
	before := len(stack.DeliveryErrors())
	put(t, stack.UploadsBucket, "tenants/acme/fail.csv", "x")
	waitIdle(t)
	errs := stack.DeliveryErrors()
	if len(errs) != before+1 {
		t.Fatalf("got %d delivery errors, want %d", len(errs), before+1)
	}
	last := errs[len(errs)-1]
	if !errors.Is(last, rec.fail) || !strings.Contains(last.Error(), "tenants/acme/fail.csv") {
		t.Errorf("error = %v, want it to wrap boom and name the key", last)
	}
}
