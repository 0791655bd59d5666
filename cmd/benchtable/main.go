// Command benchtable reads `go test -bench` output on stdin and prints a
// Markdown report: the machine (CPUs, CPU model, Go version, date) and one
// table per package. It exits 1 when the output shows a failure.
//
//	go test -run '^$' -bench . ./internal/measure/e2ebench | go run ./cmd/benchtable
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/bulkprov/bulkprov/internal/measure/benchtable"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	date := fs.String("date", time.Now().UTC().Format("2006-01-02"), "date to print")
	command := fs.String("command", "make bench", "command that reproduces the figures")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	res, err := benchtable.Parse(stdin)
	if err != nil {
		fmt.Fprintln(stderr, "benchtable:", err)
		return 1
	}
	cpu := cpuModel("/proc/cpuinfo")
	if cpu == "" {
		cpu = res.CPU
	}
	fmt.Fprintf(stdout, "Measured %s with `%s` on %d CPUs (nproc), %s, %s, %s/%s.\n",
		*date, *command, runtime.NumCPU(), orUnknown(cpu), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if err := res.WriteMarkdown(stdout); err != nil {
		fmt.Fprintln(stderr, "benchtable:", err)
		return 1
	}
	if len(res.Failures) > 0 || len(res.Results) == 0 {
		fmt.Fprintln(stderr, "benchtable: the benchmark output has failures or no results")
		return 1
	}
	return 0
}

// cpuModel is the first "model name" in /proc/cpuinfo, "" when unreadable.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown CPU"
	}
	return s
}
