package ingest

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/events"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// generateUsers returns a valid users CSV of n rows. withPhones gives every
// row a mobile and a DID (two libphonenumber parses, the dominant cost);
// otherwise rows carry names, email, MAC, model and department.
func generateUsers(n int, withPhones bool) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	first := []string{"Ann", "Bruno", "Chloé", "Dev", "Eve", "Farid", "Jürgen", "Pål"}
	for i := range n {
		mobile, did := "", ""
		if withPhones {
			mobile = fmt.Sprintf("+1 415 555 %04d", i%10000)
			did = fmt.Sprintf("+1 628 %03d %04d", 200+i/10000%800, i%10000)
		}
		fmt.Fprintf(&b, "%d,%s,Lee%d,user%d@acme.example,%s,%s,00:15:65:%02x:%02x:%02x,,yealink-t54w,Sales\n",
			100000+i, first[i%len(first)], i, i, mobile, did, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
	}
	return b.Bytes()
}

// BenchmarkValidate measures full validation (no stored data) in rows/s on
// the generated files, and the peak heap growth while validating, which
// must stay flat in the file size apart from the compact dedup index.
func BenchmarkValidate(b *testing.B) {
	for _, tc := range []struct {
		rows   int
		phones bool
	}{{10_000, false}, {100_000, false}, {1_000_000, false}, {10_000, true}} {
		name := fmt.Sprintf("rows=%d/phones=%v", tc.rows, tc.phones)
		b.Run(name, func(b *testing.B) {
			data := generateUsers(tc.rows, tc.phones)
			settings := localSettings(b, fmt.Sprintf(`{"max_rows": %d, "max_object_bytes": %d, "extension_max_len": 7}`, tc.rows, len(data)))
			b.SetBytes(int64(len(data)))
			var peak uint64
			for b.Loop() {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				base := ms.HeapAlloc
				var max atomic.Uint64
				done := make(chan struct{})
				go sampleHeap(done, base, &max)
				valid := 0
				rep, err := Validate(context.Background(), bytes.NewReader(data), Input{
					Tenant: "acme", Settings: settings,
					Rows:     func(pbx.UserRow) error { valid++; return nil },
					Rejected: func(events.RowResult) error { return nil },
				})
				close(done)
				if err != nil || rep.FileError != nil || valid != tc.rows {
					b.Fatalf("valid %d of %d: %v %+v", valid, tc.rows, err, rep.FileError)
				}
				peak = max.Load()
			}
			b.ReportMetric(float64(tc.rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		})
	}
}

// sampleHeap records the largest heap growth above base until done.
func sampleHeap(done chan struct{}, base uint64, max *atomic.Uint64) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > base && ms.HeapAlloc-base > max.Load() {
			max.Store(ms.HeapAlloc - base)
		}
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// BenchmarkDedupIndex claims 1M values (3 kinds) in the dedup index and,
// in the same run, in a Go map[uint64]int32 per kind (the index it
// replaced), reporting heap bytes per value and time per claim of each.
func BenchmarkDedupIndex(b *testing.B) {
	const n = 1_000_000
	kinds := []uint64{kindExtension, kindEmail, kindMAC}
	heapDelta := func(fill func()) (uint64, time.Duration) {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		fill()
		took := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		return after.HeapAlloc - before.HeapAlloc, took
	}
	var idxBytes, mapBytes uint64
	var idxTime, mapTime time.Duration
	for b.Loop() {
		var d *dedupIndex
		bts, took := heapDelta(func() {
			d = new(dedupIndex)
			for i := range n {
				d.claim(kinds[i%3], uint64(i), int32(i))
			}
		})
		idxBytes, idxTime = bts, took
		runtime.KeepAlive(d)
		var maps [3]map[uint64]int32
		bts, took = heapDelta(func() {
			for i := range maps {
				maps[i] = map[uint64]int32{}
			}
			for i := range n {
				maps[i%3][uint64(i)] = int32(i)
			}
		})
		mapBytes, mapTime = bts, took
		runtime.KeepAlive(maps)
	}
	b.ReportMetric(float64(idxBytes)/n, "index-B/value")
	b.ReportMetric(float64(mapBytes)/n, "map-B/value")
	b.ReportMetric(float64(idxBytes)/float64(mapBytes), "index/map-bytes")
	b.ReportMetric(float64(idxTime.Nanoseconds())/n, "index-ns/claim")
	b.ReportMetric(float64(mapTime.Nanoseconds())/n, "map-ns/claim")
	b.ReportMetric(0, "ns/op")
}

// generateFreePBX writes the same users as generateUsers (no phones) as a
// FreePBX Bulk Handler extensions export: full names to split, tech, secret,
// voicemail columns, the device caller ID to ignore.
func generateFreePBX(n int) []byte {
	var b bytes.Buffer
	b.WriteString("extension,name,description,tech,secret,voicemail,voicemail_enable,voicemail_vmpwd,voicemail_email,outboundcid,id,dial,devicetype,user,callerid,context\n")
	first := []string{"Ann", "Bruno", "Chloé", "Dev", "Eve", "Farid", "Jürgen", "Pål"}
	for i := range n {
		fmt.Fprintf(&b, "%d,%s Lee%d,,pjsip,s3cr3t%08d,default,yes,4827%02d,user%d@acme.example,,%d,PJSIP/%d,fixed,%d,device <%d>,from-internal\n",
			100000+i, first[i%len(first)], i, i, i%100, i, 100000+i, 100000+i, 100000+i, 100000+i)
	}
	return b.Bytes()
}

// BenchmarkValidatePeer validates the same 10,000 users as our template and
// as a FreePBX export in one run; peer-vs-template is the cost of detecting
// and mapping a peer's format (a ratio, not a timing).
func BenchmarkValidatePeer(b *testing.B) {
	const rows = 10_000
	run := func(b *testing.B, data []byte) float64 {
		settings := localSettings(b, fmt.Sprintf(`{"max_object_bytes": %d, "extension_max_len": 7}`, len(data)))
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			valid := 0
			rep, err := Validate(context.Background(), bytes.NewReader(data), Input{Tenant: "acme", Settings: settings,
				Rows: func(pbx.UserRow) error { valid++; return nil }})
			if err != nil || rep.FileError != nil || valid != rows {
				b.Fatalf("valid %d of %d: %v %+v", valid, rows, err, rep.FileError)
			}
		}
		return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	}
	var template, peer float64
	b.Run("template", func(b *testing.B) { template = run(b, generateUsers(rows, false)) })
	b.Run("freepbx", func(b *testing.B) {
		peer = run(b, generateFreePBX(rows))
		if template > 0 {
			b.ReportMetric(peer/template, "peer-vs-template")
		}
	})
}
