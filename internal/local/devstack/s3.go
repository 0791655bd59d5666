package devstack

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// UploadHandler receives S3 event notifications, like a Lambda function
// subscribed to the uploads bucket.
type UploadHandler func(ctx context.Context, ev events.S3Event) error

// s3Server is gofakes3 over a backend wrapper that turns successful writes
// into S3 events for watched buckets.
type s3Server struct {
	fake    *gofakes3.GoFakeS3
	backend gofakes3.Backend
	closer  io.Closer // the persistent backend, nil in memory
	log     *slog.Logger
	region  func() string

	mu        sync.Mutex
	watched   map[string]string // bucket -> key prefix
	upload    UploadHandler
	duplicate int
	lastSeq   int64
	pending   int
	idle      chan struct{} // closed while pending == 0
	stopped   bool
	errs      []error

	ctx    context.Context // deliveries' context, cancelled on close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newS3Server(stateDir string, log *slog.Logger, region func() string) (*s3Server, error) {
	s := &s3Server{log: log, region: region, watched: map[string]string{}, idle: make(chan struct{})}
	close(s.idle)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var inner gofakes3.Backend
	if stateDir == "" {
		inner = s3mem.New()
	} else {
		b, closer, err := openPersistentS3(stateDir)
		if err != nil {
			return nil, err
		}
		inner, s.closer = b, closer
	}
	s.backend = wrapBackend(inner, s)
	s.fake = gofakes3.New(s.backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	return s, nil
}

func (s *s3Server) httpHandler() http.Handler { return s.fake.Server() }

// createBucket creates a bucket unless it exists, and turns versioning on
// where the backend has it, so that events carry real version ids.
func (s *s3Server) createBucket(name string) error {
	err := s.backend.CreateBucket(name)
	if err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return fmt.Errorf("devstack: create bucket %s: %w", name, err)
	}
	if v, ok := s.backend.(gofakes3.VersionedBackend); ok {
		if err := v.SetVersioningConfiguration(name, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
			return fmt.Errorf("devstack: enable versioning on %s: %w", name, err)
		}
	}
	return nil
}

// watch makes object creation under prefix in bucket raise events.
func (s *s3Server) watch(bucket, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watched[bucket] = prefix
}

func (s *s3Server) close() error {
	s.cancel()
	s.wg.Wait()
	if s.closer != nil {
		if err := s.closer.Close(); err != nil {
			return fmt.Errorf("devstack: close S3 state: %w", err)
		}
	}
	return nil
}

// stopDeliveries refuses new events, gives those in flight up to grace to
// finish, then cancels their context and waits for them.
func (s *s3Server) stopDeliveries(grace time.Duration) {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	_ = s.waitIdle(ctx)
	s.cancel()
	s.wg.Wait()
}

// objectCreated is called by the backend wrapper after a successful write.
func (s *s3Server) objectCreated(eventName, bucket, key string, size int64, etag, versionID string) {
	s.mu.Lock()
	prefix, ok := s.watched[bucket]
	if !ok || !strings.HasPrefix(key, prefix) || s.stopped {
		s.mu.Unlock()
		return
	}
	// Sequencers only grow, across restarts too: they start from the clock.
	seq := max(time.Now().UnixNano(), s.lastSeq+1)
	s.lastSeq = seq
	h, copies := s.upload, 1+s.duplicate
	if h == nil {
		s.mu.Unlock()
		s.log.Warn("S3 event with no upload handler set", "bucket", bucket, "key", key)
		return
	}
	if s.pending == 0 {
		s.idle = make(chan struct{})
	}
	s.pending += copies
	s.wg.Add(copies)
	s.mu.Unlock()

	ev := s3Event(s.region(), eventName, bucket, key, size, etag, versionID, fmt.Sprintf("%016X", seq))
	for range copies {
		go s.deliver(h, ev)
	}
}

func (s *s3Server) deliver(h UploadHandler, ev events.S3Event) {
	defer s.wg.Done()
	rec := ev.Records[0]
	err := callHandler(s.ctx, h, ev)
	s.mu.Lock()
	if err != nil {
		s.errs = append(s.errs, err)
	}
	s.pending--
	if s.pending == 0 {
		close(s.idle)
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Error("upload handler failed", "tenant", tenantOf(rec.S3.Object.URLDecodedKey),
			"bucket", rec.S3.Bucket.Name, "key", rec.S3.Object.URLDecodedKey, "err", err)
	}
}

// tenantOf returns the tenant folder of an uploads key, for logs only.
func tenantOf(key string) string {
	rest, ok := strings.CutPrefix(key, "tenants/")
	if !ok {
		return ""
	}
	tenant, _, _ := strings.Cut(rest, "/")
	return tenant
}

// callHandler turns a handler panic into an error, as Lambda would report it.
func callHandler(ctx context.Context, h UploadHandler, ev events.S3Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("upload handler panicked: %v", r)
		}
	}()
	if err := h(ctx, ev); err != nil {
		return fmt.Errorf("upload handler for s3://%s/%s: %w", ev.Records[0].S3.Bucket.Name, ev.Records[0].S3.Object.URLDecodedKey, err)
	}
	return nil
}

// waitIdle waits for the current idle channel: deliveries raised by running
// handlers are counted before those handlers finish, so it is closed only
// when the whole cascade is done.
func (s *s3Server) waitIdle(ctx context.Context) error {
	s.mu.Lock()
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devstack: wait for upload deliveries: %w", ctx.Err())
	}
}

// s3Event builds the notification S3 sends for one created object
// (event structure version 2.1).
func s3Event(region, eventName, bucket, key string, size int64, etag, versionID, sequencer string) events.S3Event {
	now := time.Now().UTC().Truncate(time.Millisecond)
	return events.S3Event{Records: []events.S3EventRecord{{
		EventVersion:      "2.1",
		EventSource:       "aws:s3",
		AWSRegion:         region,
		EventTime:         now,
		EventName:         eventName,
		PrincipalID:       events.S3UserIdentity{PrincipalID: "AWS:LOCALDEVSTACK"},
		RequestParameters: events.S3RequestParameters{SourceIPAddress: "127.0.0.1"},
		ResponseElements: map[string]string{
			"x-amz-request-id": sequencer,
			"x-amz-id-2":       "devstack/" + sequencer,
		},
		S3: events.S3Entity{
			SchemaVersion:   "1.0",
			ConfigurationID: "devstack-uploads",
			Bucket: events.S3Bucket{
				Name:          bucket,
				OwnerIdentity: events.S3UserIdentity{PrincipalID: "LOCALDEVSTACK"},
				Arn:           "arn:aws:s3:::" + bucket,
			},
			Object: events.S3Object{
				Key:           EncodeEventKey(key),
				URLDecodedKey: key,
				Size:          size,
				ETag:          etag,
				VersionID:     versionID,
				Sequencer:     sequencer,
			},
		},
	}}}
}

// EncodeEventKey encodes an object key the way S3 writes it into event
// notifications: form encoding (space as '+', other bytes outside
// [A-Za-z0-9-_.*] as %XX of their UTF-8 bytes), with '/' left as it is.
// url.QueryUnescape reverses it.
func EncodeEventKey(key string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key))
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '*', c == '/':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// notifyingBackend wraps a gofakes3 backend: writes go through unchanged,
// and each successful one is reported to the s3Server. gofakes3's PutObject
// result has no ETag, so the MD5 is computed while the body streams through.
type notifyingBackend struct {
	gofakes3.Backend
	notify *s3Server
}

// versionedNotifyingBackend keeps gofakes3's versioning support visible
// through the wrapper (gofakes3 detects it by type assertion).
type versionedNotifyingBackend struct {
	*notifyingBackend
	gofakes3.VersionedBackend
}

func wrapBackend(inner gofakes3.Backend, s *s3Server) gofakes3.Backend {
	nb := &notifyingBackend{Backend: inner, notify: s}
	if v, ok := inner.(gofakes3.VersionedBackend); ok {
		return &versionedNotifyingBackend{notifyingBackend: nb, VersionedBackend: v}
	}
	return nb
}

// Resolve the methods both embedded values would otherwise offer.
func (v *versionedNotifyingBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	return v.notifyingBackend.PutObject(bucket, key, meta, input, size, cond)
}

func (v *versionedNotifyingBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return v.notifyingBackend.CopyObject(srcBucket, srcKey, dstBucket, dstKey, meta)
}

type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

func (b *notifyingBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	sum := &countingHash{Hash: md5.New()}
	res, err := b.Backend.PutObject(bucket, key, meta, io.TeeReader(input, sum), size, cond)
	if err != nil {
		return res, err
	}
	b.notify.objectCreated("ObjectCreated:Put", bucket, key, sum.n, hex.EncodeToString(sum.Sum(nil)), b.versionID(bucket, res.VersionID))
	return res, nil
}

func (b *notifyingBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	// Copy through b.PutObject would report "Put"; copy on the inner
	// backend and read the new object's facts back instead.
	res, err := gofakes3.CopyObject(b.Backend, srcBucket, srcKey, dstBucket, dstKey, meta)
	if err != nil {
		return res, err
	}
	obj, err := b.Backend.HeadObject(dstBucket, dstKey)
	if err != nil {
		return res, err
	}
	_ = obj.Contents.Close()
	b.notify.objectCreated("ObjectCreated:Copy", dstBucket, dstKey, obj.Size, hex.EncodeToString(obj.Hash), b.versionID(dstBucket, obj.VersionID))
	return res, nil
}

// versionID returns the backend's version id. A backend without versioning
// (the bolt backend kept in a StateDir) behaves like an unversioned bucket:
// its events carry no versionId, and ingest keys the job on ETag and
// sequencer instead. A made-up id would make readers ask for a version the
// backend cannot serve.
func (b *notifyingBackend) versionID(_ string, v gofakes3.VersionID) string {
	return string(v)
}

// SetUploadHandler sets the function that receives S3 events for objects
// created under "tenants/" in the uploads bucket (PutObject, CopyObject and
// multipart uploads, the last reported as ObjectCreated:Put with the MD5 of
// the whole object as ETag). Delivery is asynchronous, as on S3: each event
// runs in its own goroutine once the object is stored, concurrently with the
// end of the PUT, and is not retried. nil stops deliveries (events raised
// meanwhile are dropped with a warning). A handler must not call WaitIdle.
func (s *Stack) SetUploadHandler(h func(ctx context.Context, ev events.S3Event) error) {
	s.s3.mu.Lock()
	defer s.s3.mu.Unlock()
	s.s3.upload = h
}

// DuplicateDeliveries makes every following event arrive 1+n times, as S3's
// at-least-once delivery may; 0 restores single delivery.
func (s *Stack) DuplicateDeliveries(n int) {
	s.s3.mu.Lock()
	defer s.s3.mu.Unlock()
	s.s3.duplicate = max(n, 0)
}

// WaitIdle waits until the handler has returned for every event raised so
// far (and for events those handlers raised in turn).
func (s *Stack) WaitIdle(ctx context.Context) error { return s.s3.waitIdle(ctx) }

// DeliveryErrors returns the errors upload handlers have returned so far.
func (s *Stack) DeliveryErrors() []error {
	s.s3.mu.Lock()
	defer s.s3.mu.Unlock()
	return append([]error(nil), s.s3.errs...)
}
