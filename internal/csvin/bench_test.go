package csvin

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"testing"
	"time"
)

// generate returns a users CSV of n rows like an HR export: every column,
// some quoted cells, a few non-ASCII names, CRLF line ends.
func generate(n int) []byte {
	var b bytes.Buffer
	b.WriteString("extension,first_name,last_name,email,mobile,did,mac,caller_id,phone_model,department\r\n")
	first := []string{"Ann", "Bruno", "Chloé", "Dev", "Eve", "Farid", "Jürgen", "Pål"}
	for i := range n {
		f := first[i%len(first)]
		fmt.Fprintf(&b, "%d,%s,Lee%d,user%d@acme.example,+1 415 555 %04d,,00:15:65:%02x:%02x:%02x,,yealink-t54w,", 100000+i, f, i, i, i%10000, (i>>16)&0xff, (i>>8)&0xff, i&0xff)
		if i%10 == 0 {
			b.WriteString(`"Sales, West"`)
		} else {
			b.WriteString("Support")
		}
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// BenchmarkReader reads the same generated 1,000,000-row file with bare
// encoding/csv (the baseline) and with Reader, and reports both and the
// ratio of Reader's speed to the baseline's (target ≥ 0.6).
func BenchmarkReader(b *testing.B) {
	const rows = 1_000_000
	data := generate(rows)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	var bare, ours time.Duration
	for b.Loop() {
		start := time.Now()
		cr := csv.NewReader(bytes.NewReader(data))
		cr.ReuseRecord, cr.FieldsPerRecord = true, -1
		n := 0
		for {
			_, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		bare += time.Since(start)

		start = time.Now()
		rd := NewReader(bytes.NewReader(data), Limits{MaxBytes: int64(len(data)), MaxRows: rows})
		m := 0
		for {
			_, err := rd.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			m++
		}
		ours += time.Since(start)
		if n != rows+1 || m != rows {
			b.Fatalf("read %d and %d records", n, m)
		}
	}
	iters := float64(b.N)
	b.ReportMetric(float64(bare.Nanoseconds())/iters/rows, "bare-ns/row")
	b.ReportMetric(float64(ours.Nanoseconds())/iters/rows, "reader-ns/row")
	b.ReportMetric(float64(bare)/float64(ours), "speed-vs-encoding/csv")
}
