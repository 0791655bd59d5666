package store_test

import (
	"context"
	"testing"

	"github.com/bulkprov/bulkprov/internal/pbx"
	"github.com/bulkprov/bulkprov/internal/secrets"
	"github.com/bulkprov/bulkprov/internal/store"
)

func TestDeviceKeyAndGenerations(t *testing.T) {
	ctx := context.Background()
	st := store.New(stack.Clients.DynamoDB, stack.Table)

	if _, err := st.DeviceKey(ctx, "devacme"); pbx.ErrorCode(err) != pbx.ENOTFOUND {
		t.Fatalf("missing key: %v, want ENOTFOUND", err)
	}
	first := secrets.Sealed{Key: []byte("k1"), Nonce: []byte("n1"), Data: []byte("d1")}
	if created, err := st.PutDeviceKeyIfAbsent(ctx, "devacme", first); err != nil || !created {
		t.Fatalf("first put: %v %v", created, err)
	}
	second := secrets.Sealed{Key: []byte("k2"), Nonce: []byte("n2"), Data: []byte("d2")}
	if created, err := st.PutDeviceKeyIfAbsent(ctx, "devacme", second); err != nil || created {
		t.Fatalf("second put replaced the key: %v %v", created, err)
	}
	got, err := st.DeviceKey(ctx, "devacme")
	if err != nil || string(got.Data) != "d1" || string(got.Key) != "k1" || string(got.Nonce) != "n1" {
		t.Fatalf("key = %+v, %v; want the first", got, err)
	}

	const mac = "001565000900"
	if g, err := st.DeviceGeneration(ctx, "devacme", mac); err != nil || g != 0 {
		t.Fatalf("fresh generation = %d, %v", g, err)
	}
	for want := 1; want <= 2; want++ {
		if g, err := st.RotateDeviceCredential(ctx, "devacme", mac); err != nil || g != want {
			t.Fatalf("rotate = %d, %v; want %d", g, err, want)
		}
	}
	if g, _ := st.DeviceGeneration(ctx, "devacme", "001565000901"); g != 0 {
		t.Errorf("a colleague's generation changed: %d", g)
	}
	gens, err := st.DeviceGenerations(ctx, "devacme")
	if err != nil || len(gens) != 1 || gens[mac] != 2 {
		t.Errorf("generations = %v, %v", gens, err)
	}
	for _, bad := range []string{"00:15:65:00:09:00", "001565", "", "00156500090G"} {
		if _, err := st.RotateDeviceCredential(ctx, "devacme", bad); pbx.ErrorCode(err) != pbx.CodeInvalidMAC {
			t.Errorf("rotate %q: %v, want invalid_mac", bad, err)
		}
	}
	if _, err := st.DeviceKey(ctx, "../x"); err == nil {
		t.Error("a bad tenant name was accepted")
	}
}
