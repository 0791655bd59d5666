package secrets_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/aws/smithy-go/middleware"

	"github.com/bulkprov/bulkprov/internal/local/devstack"
	"github.com/bulkprov/bulkprov/internal/measure/callstats"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/testkit"
)

// The real KMS client against devstack's KMS endpoint; counter counts the
// billable KMS calls the box makes.
var (
	stack   *devstack.Stack
	counter callstats.Counter
)

func TestMain(m *testing.M) {
	cfg := devstack.Config{NoDynamoDB: true, APIOptions: []func(*middleware.Stack) error{counter.Middleware()}}
	os.Exit(testkit.ForTests(m, cfg, func(s *devstack.Stack) { stack = s }))
}

func kmsCalls(before callstats.Stats) (generate, decrypt int) {
	d := counter.Snapshot().Sub(before)
	return d.Calls["KMS.GenerateDataKey"], d.Calls["KMS.Decrypt"]
}

func TestBoxRoundTripThroughKMS(t *testing.T) {
	ctx := context.Background()
	before := counter.Snapshot()
	writer := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	sealer, err := writer.Sealer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	sealed := map[string]secrets.Sealed{}
	for i, ext := range []string{"100", "101", "102", "103", "104"} {
		binding := ext + "-acme#sip"
		values[binding] = "secret-" + ext
		if sealed[binding], err = sealer.Seal([]byte(values[binding]), binding); err != nil {
			t.Fatal(i, err)
		}
	}
	// The sealing box opens its own values without KMS.
	for binding, v := range sealed {
		got, err := writer.Open(ctx, "acme", v, binding)
		if err != nil || string(got) != values[binding] {
			t.Fatalf("writer Open(%s) = %q, %v", binding, got, err)
		}
	}
	if g, d := kmsCalls(before); g != 1 || d != 0 {
		t.Fatalf("sealing 5 values and opening them in the same box: %d GenerateDataKey, %d Decrypt; want 1, 0", g, d)
	}

	// A reader (another Lambda) decrypts the batch's data key once, even
	// with concurrent opens.
	before = counter.Snapshot()
	reader := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	var wg sync.WaitGroup
	errs := make(chan error, len(sealed)*4)
	for range 4 {
		for binding, v := range sealed {
			wg.Go(func() {
				got, err := reader.Open(ctx, "acme", v, binding)
				if err == nil && string(got) != values[binding] {
					err = errors.New("wrong plaintext for " + binding)
				}
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if g, d := kmsCalls(before); g != 0 || d != 1 {
		t.Fatalf("a reader opening 20 values of one batch: %d GenerateDataKey, %d Decrypt; want 0, 1", g, d)
	}
}

func TestBoxRefusesCopiedValues(t *testing.T) {
	ctx := context.Background()
	sealer, err := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID).Sealer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	v, err := sealer.Seal([]byte("pin-482913"), "100-acme#pin")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct{ tenant, binding string }{
		"other tenant":   {"globex", "100-acme#pin"}, // KMS refuses the data key: encryption context differs
		"other endpoint": {"acme", "101-acme#pin"},
		"other purpose":  {"acme", "100-acme#sip"},
	} {
		t.Run(name, func(t *testing.T) {
			reader := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
			if _, err := reader.Open(ctx, tc.tenant, v, tc.binding); !errors.Is(err, secrets.ErrCannotOpen) {
				t.Fatalf("Open = %v, want ErrCannotOpen", err)
			}
		})
	}
	// A cached key for acme must not let globex open acme's value.
	reader := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	if _, err := reader.Open(ctx, "acme", v, "100-acme#pin"); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Open(ctx, "globex", v, "100-acme#pin"); !errors.Is(err, secrets.ErrCannotOpen) {
		t.Fatalf("Open for another tenant after caching = %v, want ErrCannotOpen", err)
	}
}

func TestSealerPerBatch(t *testing.T) {
	ctx := context.Background()
	box := secrets.NewBox(stack.Clients.KMS, stack.KMSKeyID)
	a, err := box.Sealer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	b, err := box.Sealer(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	va, _ := a.Seal([]byte("x"), "100-acme#sip")
	vb, _ := b.Seal([]byte("x"), "100-acme#sip")
	if string(va.Key) == string(vb.Key) {
		t.Fatal("two sealers share a data key")
	}
	if _, err := box.Sealer(ctx, ""); err == nil {
		t.Fatal("Sealer for an empty tenant succeeded")
	}
	if _, err := secrets.NewBox(stack.Clients.KMS, "arn:aws:kms:us-east-1:000000000000:key/missing").Sealer(ctx, "acme"); err == nil || errors.Is(err, secrets.ErrCannotOpen) {
		t.Fatalf("Sealer with an unknown key = %v, want a KMS error", err)
	}
}
