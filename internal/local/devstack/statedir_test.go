package devstack_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/store"
)

func startAt(t *testing.T, dir string) *devstack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	s, err := devstack.Start(ctx, devstack.Config{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Start with StateDir took %s", time.Since(start).Round(time.Millisecond))
	return s
}

func TestStateDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	first := startAt(t, dir)
	ciphertext := writeOneOfEach(t, first)
	keyID := first.KMSKeyID
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second := startAt(t, dir)
	defer second.Close()
	checkKeptData(t, second, keyID, ciphertext)
	checkOutboxNumbering(t, second, dir)
	checkUnversionedEvents(t, second)
}

// writeOneOfEach stores an S3 object, a table item and an email, and
// returns a ciphertext of the KMS key.
func writeOneOfEach(t *testing.T, s *devstack.Stack) []byte {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Clients.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.JobsBucket), Key: aws.String("jobs/acme/j1/rows.jsonl"), Body: strings.NewReader("{}\n"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clients.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.Table), Item: item(store.TenantPK("acme"), store.JobSK("j1")),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Clients.SES.SendEmail(ctx, simple("ann@acme.example")); err != nil {
		t.Fatal(err)
	}
	enc, err := s.Clients.KMS.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(s.KMSKeyID), Plaintext: []byte("pin")})
	if err != nil {
		t.Fatal(err)
	}
	return enc.CiphertextBlob
}

// checkKeptData checks that writeOneOfEach's object and item are back and
// that the same KMS key decrypts its ciphertext.
func checkKeptData(t *testing.T, s *devstack.Stack, keyID string, ciphertext []byte) {
	t.Helper()
	ctx := context.Background()
	obj, err := s.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.JobsBucket), Key: aws.String("jobs/acme/j1/rows.jsonl")})
	if err != nil {
		t.Fatalf("object after restart: %v", err)
	}
	body, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(body) != "{}\n" {
		t.Errorf("object body = %q", body)
	}
	got, err := s.Clients.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.Table), Key: item(store.TenantPK("acme"), store.JobSK("j1")), ConsistentRead: aws.Bool(true),
	})
	if err != nil || got.Item == nil {
		t.Errorf("item after restart: %v, %v", got, err)
	}
	if s.KMSKeyID != keyID {
		t.Errorf("KMS key %s after restart, was %s", s.KMSKeyID, keyID)
	}
	dec, err := s.Clients.KMS.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ciphertext})
	if err != nil || string(dec.Plaintext) != "pin" {
		t.Errorf("decrypt after restart = %q, %v", dec.Plaintext, err)
	}
}

// checkOutboxNumbering checks that the outbox keeps its messages and its
// numbering.
func checkOutboxNumbering(t *testing.T, s *devstack.Stack, dir string) {
	t.Helper()
	if _, err := s.Clients.SES.SendEmail(context.Background(), simple("bob@acme.example")); err != nil {
		t.Fatal(err)
	}
	mails, err := s.Outbox()
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 2 || !strings.HasPrefix(filepath.Base(mails[0]), "000001-") || !strings.HasPrefix(filepath.Base(mails[1]), "000002-") {
		t.Errorf("outbox = %v, want messages 000001 and 000002", mails)
	}
	if filepath.Dir(mails[0]) != filepath.Join(dir, "outbox") {
		t.Errorf("outbox dir = %s", filepath.Dir(mails[0]))
	}
}

// checkUnversionedEvents checks that events still flow on the persistent
// backend, which is unversioned: like an unversioned S3 bucket's, its events
// carry no version id, and the object can be read by key (ingest keys the
// job on ETag + sequencer).
func checkUnversionedEvents(t *testing.T, s *devstack.Stack) {
	t.Helper()
	ctx := context.Background()
	evs := make(chan events.S3Event, 1)
	s.SetUploadHandler(func(_ context.Context, ev events.S3Event) error { evs <- ev; return nil })
	if _, err := s.Clients.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.UploadsBucket), Key: aws.String("tenants/acme/a.csv"), Body: strings.NewReader("x"),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-evs:
		o := ev.Records[0].S3.Object
		if o.VersionID != "" || o.ETag != md5hex("x") || o.Sequencer == "" {
			t.Errorf("event object = %+v, want no version id, the MD5 ETag and a sequencer", o)
		}
		out, err := s.Clients.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.UploadsBucket), Key: aws.String(o.URLDecodedKey)})
		if err != nil {
			t.Fatalf("read the object the event names: %v", err)
		}
		out.Body.Close()
	default:
		t.Error("no event from the persistent backend")
	}
}

func TestInMemoryStackStartsEmpty(t *testing.T) {
	ctx := context.Background()
	s, err := devstack.Start(ctx, devstack.Config{NoDynamoDB: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Clients for services the stack does not run fail on loopback, fast,
	// rather than reach AWS.
	for name, ep := range map[string]string{"DynamoDB": s.Endpoints.DynamoDB, "SFN": s.Endpoints.SFN} {
		if !strings.HasPrefix(ep, "http://127.0.0.1:") {
			t.Errorf("%s endpoint = %q, want loopback", name, ep)
		}
	}
	if _, err := s.Clients.DynamoDB.ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil || !strings.Contains(err.Error(), "NoDynamoDB") {
		t.Errorf("DynamoDB call on a NoDynamoDB stack: err = %v", err)
	}
	if _, err := s.Clients.SFN.ListStateMachines(ctx, &sfn.ListStateMachinesInput{}); err == nil || !strings.Contains(err.Error(), "local engine") {
		t.Errorf("SFN call: err = %v", err)
	}
	list, err := s.Clients.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(s.UploadsBucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Errorf("new in-memory stack has %d uploads", len(list.Contents))
	}
	if mails, _ := s.Outbox(); len(mails) != 0 {
		t.Errorf("new outbox has %d messages", len(mails))
	}
	outbox := s.OutboxDir
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(outbox); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary outbox %s still there after Close: %v", outbox, err)
	}
}
