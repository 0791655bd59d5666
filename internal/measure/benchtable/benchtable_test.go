package benchtable

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulkprov/bulkprov/internal/testkit"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/bulkprov/bulkprov/internal/measure/e2ebench
cpu: Intel(R) Xeon(R) Processor
BenchmarkValidate/rows=10000-2         	       1	   2.27 MB/s	       341.5 bare_MB/s	        11.02 peak_live_heap_MB	     32479 rows/s	         0 ns/op
BenchmarkPipeline/rows=1000
{"level":"INFO","msg":"log output between name and result"}
BenchmarkPipeline/rows=1000-2         	       1	       159.3 bare_8item_tx/s	         1.009 calls/row	 0.000123 usd
PASS
ok  	github.com/bulkprov/bulkprov/internal/measure/e2ebench	33.502s
pkg: github.com/bulkprov/bulkprov/internal/csvin
BenchmarkReader 	       3	 412345678 ns/op	  55.10 MB/s
--- FAIL: BenchmarkBroken
FAIL	github.com/bulkprov/bulkprov/internal/csvin	1.0s
`

func TestParse(t *testing.T) {
	run, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if run.CPU != "Intel(R) Xeon(R) Processor" {
		t.Errorf("cpu %q", run.CPU)
	}
	tests := []struct {
		pkg, name string
		procs, n  int
		metrics   []Metric
	}{
		{"github.com/bulkprov/bulkprov/internal/measure/e2ebench", "BenchmarkValidate/rows=10000", 2, 1,
			[]Metric{{2.27, "MB/s"}, {341.5, "bare_MB/s"}, {11.02, "peak_live_heap_MB"}, {32479, "rows/s"}, {0, "ns/op"}}},
		{"github.com/bulkprov/bulkprov/internal/measure/e2ebench", "BenchmarkPipeline/rows=1000", 2, 1,
			[]Metric{{159.3, "bare_8item_tx/s"}, {1.009, "calls/row"}, {0.000123, "usd"}}},
		{"github.com/bulkprov/bulkprov/internal/csvin", "BenchmarkReader", 1, 3,
			[]Metric{{412345678, "ns/op"}, {55.10, "MB/s"}}},
	}
	if len(run.Results) != len(tests) {
		t.Fatalf("%d results, want %d: %+v", len(run.Results), len(tests), run.Results)
	}
	for i, tt := range tests {
		r := run.Results[i]
		if r.Package != tt.pkg || r.Name != tt.name || r.Procs != tt.procs || r.N != tt.n || len(r.Metrics) != len(tt.metrics) {
			t.Errorf("result %d = %+v", i, r)
			continue
		}
		for j, m := range tt.metrics {
			if r.Metrics[j] != m {
				t.Errorf("%s metric %d = %+v, want %+v", r.Name, j, r.Metrics[j], m)
			}
		}
	}
	if len(run.Failures) != 2 {
		t.Errorf("failures %q", run.Failures)
	}
}

func TestParseRejectsMalformedMetrics(t *testing.T) {
	run, err := Parse(strings.NewReader("BenchmarkX-2  1  fast rows/s\nBenchmarkY-2 abc\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Results) != 0 {
		t.Errorf("parsed %+v", run.Results)
	}
}

func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {123456, "123,456"}, {1234.5, "1,235"}, {-98765, "-98,765"}, {999.94, "999.9"},
		{91.624, "91.62"}, {1.0094, "1.009"}, {0.006523, "0.006523"}, {0.17812, "0.1781"},
	} {
		if got := Format(tt.v); got != tt.want {
			t.Errorf("Format(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestWriteMarkdownGolden(t *testing.T) {
	run, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := run.WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if testkit.Updating() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("markdown differs from %s:\n%s", golden, buf.String())
	}
}
