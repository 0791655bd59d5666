package ingest

import "testing"

func TestDedupIndex(t *testing.T) {
	var d dedupIndex
	if _, ok := d.lookup(kindExtension, 100); ok {
		t.Fatal("empty index found a value")
	}
	// Enough values to grow the table several times; the same key in
	// another kind is another value.
	const n = 50_000
	for i := range n {
		for _, kind := range []uint64{kindExtension, kindEmail, kindDID, kindMAC} {
			d.claim(kind, uint64(i), int32(i+int(kind)))
		}
	}
	d.claim(kindExtension, 7, 999_999) // a second claim keeps the first line
	tests := []struct {
		kind, key uint64
		line      int32
		ok        bool
	}{
		{kindExtension, 0, 1, true},
		{kindEmail, 0, 2, true},
		{kindMAC, 0, 4, true},
		{kindExtension, 7, 8, true},
		{kindDID, n - 1, n - 1 + 3, true},
		{kindDID, n, 0, false},
		{kindEmail, 1<<60 + 5, 0, false},
	}
	for _, tt := range tests {
		line, ok := d.lookup(tt.kind, tt.key)
		if line != tt.line || ok != tt.ok {
			t.Errorf("lookup(%d, %d) = %d, %v; want %d, %v", tt.kind, tt.key, line, ok, tt.line, tt.ok)
		}
	}
	values, bytes := d.size()
	if values != 4*n {
		t.Errorf("%d values stored, want %d", values, 4*n)
	}
	// Tables grow at 7/8 full, at most doubling: never below 7/16 full.
	if perValue := float64(bytes) / float64(values); perValue > 12/(7.0/16) {
		t.Errorf("%.1f bytes a value; want at most %.1f", perValue, 12/(7.0/16))
	}
}
