// Package benchtable parses `go test -bench` output and renders it as a
// Markdown table, one line per reported metric.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Metric is one value a benchmark reported, e.g. 91.6 "rows/s".
type Metric struct {
	Value float64
	Unit  string
}

// Result is one benchmark line.
type Result struct {
	Package string
	Name    string // without the -GOMAXPROCS suffix
	Procs   int
	N       int
	Metrics []Metric
}

// Run is everything parsed from one or more `go test -bench` outputs.
type Run struct {
	CPU      string
	Results  []Result
	Failures []string // "--- FAIL" and "FAIL" lines, and panics
}

// Parse reads `go test -bench` output (several packages, several runs
// concatenated are fine). Lines it does not know are ignored.
func Parse(r io.Reader) (Run, error) {
	var run Run
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
		case strings.HasPrefix(line, "cpu: "):
			run.CPU = strings.TrimPrefix(line, "cpu: ")
		case strings.HasPrefix(line, "--- FAIL"), strings.HasPrefix(line, "FAIL"), strings.HasPrefix(line, "panic: "):
			run.Failures = append(run.Failures, line)
		case strings.HasPrefix(line, "Benchmark"):
			if res, ok := parseResult(line); ok {
				res.Package = pkg
				run.Results = append(run.Results, res)
			}
		}
	}
	return run, sc.Err()
}

// parseResult reads "BenchmarkX/sub-2  1  12.5 rows/s  0 ns/op ...".
// A line without an iteration count (a benchmark's name printed before
// its log output) is not a result.
func parseResult(line string) (Result, bool) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return Result{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return Result{}, false
	}
	res := Result{Name: f[0], N: n, Procs: 1}
	if i := strings.LastIndexByte(f[0], '-'); i > 0 {
		if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
			res.Name, res.Procs = f[0][:i], p
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return Result{}, false
		}
		res.Metrics = append(res.Metrics, Metric{Value: v, Unit: f[i+1]})
	}
	return res, true
}

// WriteMarkdown writes one table per package: benchmark, metric, value.
// Zero ns/op (benchmarks that report their own rates set it to 0) is left
// out.
func (r Run) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	pkg := "\x00"
	for _, res := range r.Results {
		if res.Package != pkg {
			pkg = res.Package
			fmt.Fprintf(bw, "\n### %s\n\n| benchmark | metric | value |\n|---|---|---:|\n", orDash(pkg))
		}
		for _, m := range res.Metrics {
			if m.Unit == "ns/op" && m.Value == 0 {
				continue
			}
			fmt.Fprintf(bw, "| %s | %s | %s |\n", strings.TrimPrefix(res.Name, "Benchmark"), m.Unit, Format(m.Value))
		}
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(bw, "\n**Failures:**\n\n")
		for _, f := range r.Failures {
			fmt.Fprintf(bw, "    %s\n", f)
		}
	}
	return bw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Format prints a value with about four significant digits and no
// exponent: 123456 → "123,456", 91.62 → "91.62", 0.006523 → "0.006523".
func Format(v float64) string {
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1000:
		return thousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 3-int(math.Floor(math.Log10(a))), 64)
	}
	digits := 3 - int(math.Floor(math.Log10(a)))
	return strconv.FormatFloat(v, 'f', digits, 64)
}

func thousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
