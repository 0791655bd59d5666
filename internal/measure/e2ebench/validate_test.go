package e2ebench

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/bulkprov/bulkprov/internal/ingest"
	"github.com/bulkprov/bulkprov/internal/measure/cost"
	"github.com/bulkprov/bulkprov/internal/pbx"
)

// writeFile writes n generated rows (cost.WriteRows: DIDs, MACs) to a
// file, so that neither reader holds the input in memory.
func writeFile(b *testing.B, n int) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), fmt.Sprintf("users-%d.csv", n))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := cost.WriteRows(f, 0, n); err != nil {
		b.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// heapPeak samples the live heap (as marked by the latest GC, so garbage
// not yet collected does not count) every millisecond while it runs and
// returns the peak above the level at the start.
type heapPeak struct {
	stop chan struct{}
	done sync.WaitGroup
	base uint64
	peak uint64
}

func liveHeap(s []metrics.Sample) uint64 {
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapPeak() *heapPeak {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	h := &heapPeak{stop: make(chan struct{}), base: liveHeap(s)}
	h.peak = h.base
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.peak = max(h.peak, liveHeap(s))
			}
		}
	}()
	return h
}

// Stop returns the peak in MB above the starting level.
func (h *heapPeak) Stop() float64 {
	close(h.stop)
	h.done.Wait()
	return float64(h.peak-h.base) / (1 << 20)
}

func bareCSV(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord, r.FieldsPerRecord = true, -1
	n := 0
	for {
		_, err := r.Read()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

func validate(ctx context.Context, path string, settings pbx.Settings) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	valid := 0
	rep, err := ingest.Validate(ctx, f, ingest.Input{
		Tenant: "bench", Settings: settings,
		Rows: func(pbx.UserRow) error { valid++; return nil },
	})
	if err != nil {
		return valid, err
	}
	if rep.FileError != nil {
		return valid, fmt.Errorf("file error: %+v", rep.FileError)
	}
	return valid, nil
}

// BenchmarkValidate validates generated files of 10k, 100k and 1M rows as
// ingest does (reader, row and cross-row rules; no stored tenant data to
// look up), reading each file from disk, and in the same run reads the same
// file with bare encoding/csv, the baseline. Reported: both speeds in MB/s,
// their ratio, rows/s, and the peak live heap during validation, which must
// stay flat in the file size.
//
//	go test -run '^$' -bench BenchmarkValidate -benchtime 1x ./internal/measure/e2ebench
func BenchmarkValidate(b *testing.B) {
	ctx := context.Background()
	settings, err := pbx.Merge(pbx.SystemDefaults(), pbx.LocalTenantOverrides("bench"),
		[]byte(`{"max_rows": 2000000, "max_object_bytes": 1073741824, "extension_max_len": 8, "upload": {"create_dids": true}}`))
	if err != nil {
		b.Fatal(err)
	}
	for _, rows := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			path, size := writeFile(b, rows)
			b.SetBytes(size)
			var bare, ours time.Duration
			var peak float64
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				n, err := bareCSV(path)
				bare += time.Since(start)
				if err != nil || n != rows+1 {
					b.Fatalf("encoding/csv read %d records: %v", n, err)
				}
				h := startHeapPeak()
				start = time.Now()
				valid, err := validate(ctx, path, settings)
				ours += time.Since(start)
				peak = max(peak, h.Stop())
				if err != nil || valid != rows {
					b.Fatalf("%d of %d rows valid: %v", valid, rows, err)
				}
			}
			iters := float64(b.N)
			mb := float64(size) / (1 << 20)
			b.ReportMetric(mb*iters/bare.Seconds(), "bare_MB/s")
			b.ReportMetric(mb*iters/ours.Seconds(), "validate_MB/s")
			b.ReportMetric(bare.Seconds()/ours.Seconds(), "speed_vs_encoding/csv")
			b.ReportMetric(float64(rows)*iters/ours.Seconds(), "rows/s")
			b.ReportMetric(peak, "peak_live_heap_MB")
			b.ReportMetric(0, "ns/op")
		})
	}
}
