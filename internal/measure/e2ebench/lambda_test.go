package e2ebench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// lambdaFunctions are the deployed functions (functions/<name>).
func lambdaFunctions() []string {
	return []string{"ingest", "create-records", "write-provisioning", "send-welcome", "finalize", "portal-api"}
}

// lambdaEnv is what the functions read at init, as the stack sets it.
func lambdaEnv() []string {
	return []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_LAMBDA_FUNCTION_NAME=bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"TABLE_NAME=bulkprov", "UPLOADS_BUCKET=uploads", "JOBS_BUCKET=jobs", "PROVISIONING_BUCKET=provisioning",
		"KMS_KEY_ID=arn:aws:kms:us-east-1:000000000000:key/bench", "STATE_MACHINE_ARN=arn:aws:states:us-east-1:000000000000:stateMachine:bulkprov",
		"PATH=" + os.Getenv("PATH"),
	}
}

// baselineMain is the smallest Lambda-shaped program: it asks the runtime
// API for its first event and nothing else.
const baselineMain = `package main

import (
	"net/http"
	"os"
)

func main() {
	resp, err := http.Get("http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API") + "/2018-06-01/runtime/invocation/next")
	if err == nil {
		resp.Body.Close()
	}
}
`

// build compiles pkg (run in dir) as the Makefile builds bootstraps, but
// for the host: -tags lambda.norpc -trimpath -ldflags="-s -w".
func build(b *testing.B, dir, pkg, out string) int64 {
	b.Helper()
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// initTime starts the binary against a local stand-in for the Lambda
// runtime API and returns the time from process start to its first
// GET /2018-06-01/runtime/invocation/next: the function's init phase.
func initTime(b *testing.B, bin string) time.Duration {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	first := make(chan time.Time, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/2018-06-01/runtime/invocation/next" {
			select {
			case first <- time.Now():
			default:
			}
			<-r.Context().Done() // hold the function in its wait, as Lambda does
			return
		}
		w.WriteHeader(http.StatusAccepted) // init errors and anything else
	})}
	go srv.Serve(ln)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(lambdaEnv(), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	select {
	case t := <-first:
		return t.Sub(start)
	case err := <-exited:
		if filepath.Base(bin) == "baseline" {
			// The baseline exits after its request; the time was sent first.
			select {
			case t := <-first:
				return t.Sub(start)
			default:
			}
		}
		b.Fatalf("%s exited before asking for an event: %v", bin, err)
	case <-ctx.Done():
		b.Fatalf("%s never asked for an event", bin)
	}
	return 0
}

// BenchmarkLambdaInit builds each function for the host as the Makefile
// builds the arm64 bootstraps (-tags lambda.norpc, -trimpath, -s -w) and
// reports its size and its init time, measured as process start → first
// request to a local stand-in for the Lambda runtime API (the Lambda
// runtime interface emulator is not available offline). Baseline in the
// same run: a program that makes only that request. Each iteration starts
// every binary once; the mean is reported.
//
//	go test -run '^$' -bench BenchmarkLambdaInit -benchtime 10x ./internal/measure/e2ebench
func BenchmarkLambdaInit(b *testing.B) {
	root, err := filepath.Abs("../../..")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	baseDir := filepath.Join(dir, "baseline-src")
	if err := os.MkdirAll(baseDir, 0o755); err != nil {
		b.Fatal(err)
	}
	for name, content := range map[string]string{"go.mod": "module baseline\n\ngo 1.26\n", "main.go": baselineMain} {
		if err := os.WriteFile(filepath.Join(baseDir, name), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	baseBin := filepath.Join(dir, "baseline")
	baseSize := build(b, baseDir, ".", baseBin)
	sizes := map[string]int64{}
	for _, f := range lambdaFunctions() {
		sizes[f] = build(b, root, "./functions/"+f, filepath.Join(dir, f))
	}
	var base time.Duration
	inits := map[string]time.Duration{}
	b.ResetTimer()
	for b.Loop() {
		base += initTime(b, baseBin)
		for _, f := range lambdaFunctions() {
			inits[f] += initTime(b, filepath.Join(dir, f))
		}
	}
	b.StopTimer()
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / n / float64(time.Millisecond) }
	b.ReportMetric(float64(baseSize)/(1<<20), "baseline_MB")
	b.ReportMetric(ms(base), "baseline_init_ms")
	for _, f := range lambdaFunctions() {
		b.ReportMetric(float64(sizes[f])/(1<<20), f+"_MB")
		b.ReportMetric(ms(inits[f]), f+"_init_ms")
		b.ReportMetric(float64(inits[f])/float64(base), fmt.Sprintf("%s_init/baseline", f))
	}
	b.ReportMetric(0, "ns/op")
}
