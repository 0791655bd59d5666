package ingest

import "math/bits"

// dedupIndex remembers, for every value claimed in the file so far, the
// line that claimed it, in 12 bytes a slot: 64-bit keys and int32 lines in
// open-addressing tables with linear probing, no per-entry overhead. The
// key's top 8 bits pick one of 256 segments, each grown when it is 7/8
// full: doubled while small (under 2048 slots, 6 MB in all), then by a
// quarter, so large tables stay 70-87% full (~14-17 bytes a value) and
// growing one segment never holds two copies of the whole index. A Go map of the
// same entries costs ~26-40 bytes a value. The file's max-rows setting
// bounds it: at most four values (extension, email, DID, MAC) per row.
//
// The kind goes in a key's top 3 bits, so one index serves all kinds:
// extension, DID and MAC keys are exact and below 2^61; email keys are
// hashes cut to 61 bits. The mixer is a bijection, so distinct keys stay
// distinct, and only 0 mixes to 0, which marks an empty slot.
type dedupIndex struct {
	segs [256]dedupSegment
}

type dedupSegment struct {
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
	k := slotKey(kind, key)
	return d.segs[k>>56].lookup(k)
}

// claim records line as the claimer of (kind, key) unless one is known.
func (d *dedupIndex) claim(kind, key uint64, line int32) {
	k := slotKey(kind, key)
	d.segs[k>>56].claim(k, line)
}

// size returns the number of values stored and the bytes their tables take.
func (d *dedupIndex) size() (values, bytes int) {
	for i := range d.segs {
		values += d.segs[i].n
		bytes += 12 * len(d.segs[i].keys)
	}
	return values, bytes
}

// home is k's first slot: the key's low 56 bits scaled to the table size
// (tables are not powers of two).
func (s *dedupSegment) home(k uint64) int {
	hi, _ := bits.Mul64(k<<8, uint64(len(s.keys)))
	return int(hi)
}

func (s *dedupSegment) lookup(k uint64) (int32, bool) {
	if s.n == 0 {
		return 0, false
	}
	for i := s.home(k); ; {
		switch s.keys[i] {
		case k:
			return s.lines[i], true
		case 0:
			return 0, false
		}
		if i++; i == len(s.keys) {
			i = 0
		}
	}
}

func (s *dedupSegment) claim(k uint64, line int32) {
	if (s.n+1)*8 > len(s.keys)*7 {
		s.grow()
	}
	if s.put(k, line) {
		s.n++
	}
}

func (s *dedupSegment) put(k uint64, line int32) bool {
	for i := s.home(k); ; {
		switch s.keys[i] {
		case k:
			return false
		case 0:
			s.keys[i], s.lines[i] = k, line
			return true
		}
		if i++; i == len(s.keys) {
			i = 0
		}
	}
}

func (s *dedupSegment) grow() {
	// Small tables double (cheap to copy, few rehashes for small files);
	// large ones grow by a quarter, so they stay at least 70% full.
	size := max(16, 2*len(s.keys))
	if len(s.keys) >= 2048 {
		size = len(s.keys) + len(s.keys)/4
	}
	keys, lines := s.keys, s.lines
	s.keys, s.lines = make([]uint64, size), make([]int32, size)
	for i, k := range keys {
		if k != 0 {
			s.put(k, lines[i])
		}
	}
}
