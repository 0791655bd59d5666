package ingest

// dedupIndex remembers, for every value claimed in the file so far, the
// line that claimed it: one open-addressing table of 64-bit keys and int32
// lines (12 bytes a slot, no per-entry overhead), linear probing, grown
// ×2 at 7/8 full, so it costs 14-27 bytes per value. A Go map of the same
// entries costs ~26-40. The file's max-rows setting bounds it: at most
// four values (extension, email, DID, MAC) per row.
//
// The kind goes in a key's top 3 bits, so one table serves all kinds:
// extension, DID and MAC keys are exact and below 2^61; email keys are
// hashes cut to 61 bits. The mixer is a bijection, so distinct keys stay
// distinct, and only 0 mixes to 0, which marks an empty slot.
type dedupIndex struct {
	keys  []uint64
	lines []int32
	n     int
}

// Kinds of value, mixed into the key.
const (
	kindExtension uint64 = iota + 1
	kindEmail
	kindDID
	kindMAC
)

// mix64 is the splitmix64 finalizer: a bijection on uint64 that spreads
// the structured keys (digits, MACs) over the table.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// slotKey is the stored form of (kind, key); never 0.
func slotKey(kind, key uint64) uint64 { return mix64(kind<<61 | key&(1<<61-1)) }

// lookup returns the line that claimed (kind, key), if any.
func (d *dedupIndex) lookup(kind, key uint64) (int32, bool) {
	if d.n == 0 {
		return 0, false
	}
	k := slotKey(kind, key)
	mask := uint64(len(d.keys) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch d.keys[i] {
		case k:
			return d.lines[i], true
		case 0:
			return 0, false
		}
	}
}

// claim records line as the claimer of (kind, key) unless one is known.
func (d *dedupIndex) claim(kind, key uint64, line int32) {
	if (d.n+1)*8 > len(d.keys)*7 {
		d.grow()
	}
	if d.put(slotKey(kind, key), line) {
		d.n++
	}
}

func (d *dedupIndex) put(k uint64, line int32) bool {
	mask := uint64(len(d.keys) - 1)
	for i := k & mask; ; i = (i + 1) & mask {
		switch d.keys[i] {
		case k:
			return false
		case 0:
			d.keys[i], d.lines[i] = k, line
			return true
		}
	}
}

func (d *dedupIndex) grow() {
	size := max(1024, 2*len(d.keys))
	keys, lines := d.keys, d.lines
	d.keys, d.lines = make([]uint64, size), make([]int32, size)
	for i, k := range keys {
		if k != 0 {
			d.put(k, lines[i])
		}
	}
}
