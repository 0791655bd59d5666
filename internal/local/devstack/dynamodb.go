package devstack

import (
	"bytes"
	"context"

	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// JarEnv names the environment variable that points at DynamoDBLocal.jar
// when it is not under node_modules.
const JarEnv = "BULKPROV_DYNAMODB_JAR"

// JVMOptionsEnv adds JVM options (space-separated) before DynamoDB Local's
// own, e.g. a flight recording when profiling the local stack.
const JVMOptionsEnv = "BULKPROV_DYNAMODB_JVM_OPTS"

// jarInNodeModules is where the pinned npm package ships the jar.
const jarInNodeModules = "node_modules/amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar"

// dynamoReadyTimeout is generous: on a busy 2-core machine the JVM takes
// 5 s alone and much longer when several start at once.
const dynamoReadyTimeout = 90 * time.Second

// dynamoProcess is DynamoDB Local running as a child JVM.
type dynamoProcess struct {
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	waitErr  error         // valid after exited is closed
	output   *tailBuffer
	log      *slog.Logger
}

// FindDynamoDBJar returns the path of DynamoDBLocal.jar: $BULKPROV_DYNAMODB_JAR,
// else node_modules/amplify-dynamodb-simulator/emulator/DynamoDBLocal.jar in
// the working directory or the nearest parent that has it.
func FindDynamoDBJar() (string, error) {
	if p := os.Getenv(JarEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("devstack: %s=%s: %w", JarEnv, p, err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("devstack: find DynamoDB Local: %w", err)
	}
	for {
		p := filepath.Join(dir, jarInNodeModules)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("devstack: DynamoDB Local not found: no %s in %s or its parents; run `npm ci` in the module root, or set %s (or Config.NoDynamoDB)", jarInNodeModules, mustGetwd(), JarEnv)
		}
		dir = parent
	}
}

func mustGetwd() string {
	wd, _ := os.Getwd()
	return wd
}

// startDynamoDB starts the JVM on a free loopback port; dbDir "" keeps the
// data in memory. It does not wait for readiness (see waitReady).
func startDynamoDB(dbDir string, log *slog.Logger) (*dynamoProcess, error) {
	jar, err := FindDynamoDBJar()
	if err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, fmt.Errorf("devstack: DynamoDB Local needs java (17 or newer) on PATH, e.g. apt-get install openjdk-17-jre-headless, or set Config.NoDynamoDB: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	emulator := filepath.Dir(jar)
	args := []string{
		"-Djava.library.path=" + filepath.Join(emulator, "DynamoDBLocal_lib"),
		// Tests start many short-lived JVMs on a small machine: a small heap
		// and one GC thread are plenty for test data.
		"-Xms64m", "-XX:+UseSerialGC",
	}
	args = append(args, strings.Fields(os.Getenv(JVMOptionsEnv))...)
	args = append(args,
		"-jar", jar, "-port", strconv.Itoa(port), "-sharedDb",
		// A local tool does not report usage to anyone (and has no network here).
		"-disableTelemetry",
	)
	if dbDir == "" {
		args = append(args, "-inMemory")
	} else {
		if err := os.MkdirAll(dbDir, 0o700); err != nil {
			return nil, fmt.Errorf("devstack: DynamoDB state dir: %w", err)
		}
		args = append(args, "-dbPath", dbDir)
	}
	p := &dynamoProcess{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		exited:   make(chan struct{}),
		output:   &tailBuffer{max: 8 << 10},
		log:      log,
	}
	p.cmd = exec.Command(java, args...)
	p.cmd.Dir = emulator
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	p.cmd.SysProcAttr = childProcAttr()
	if err := startChild(p.cmd, func(err error) { p.waitErr = err; close(p.exited) }); err != nil {
		return nil, fmt.Errorf("devstack: start DynamoDB Local (%s): %w", java, err)
	}
	log.Debug("DynamoDB Local starting", "pid", p.cmd.Process.Pid, "endpoint", p.endpoint, "dbPath", dbDir)
	return p, nil
}

// waitReady polls ListTables until DynamoDB Local answers.
func (p *dynamoProcess) waitReady(ctx context.Context, db *dynamodb.Client) error {
	ctx, cancel := context.WithTimeout(ctx, dynamoReadyTimeout)
	defer cancel()
	start := time.Now()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		_, err := db.ListTables(attempt, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}, func(o *dynamodb.Options) {
			o.Retryer = aws.NopRetryer{}
		})
		cancelAttempt()
		if err == nil {
			p.log.Debug("DynamoDB Local ready", "after", time.Since(start))
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("devstack: DynamoDB Local exited before it was ready (%v); its output:\n%s", p.waitErr, p.output)
		case <-ctx.Done():
			return fmt.Errorf("devstack: DynamoDB Local did not answer on %s within %s (last error: %v); its output:\n%s", p.endpoint, time.Since(start).Round(time.Second), err, p.output)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the process group: SIGTERM, then SIGKILL after a grace period.
func (p *dynamoProcess) stop() error {
	select {
	case <-p.exited:
		return nil // already gone (crashed); nothing to stop
	default:
	}
	_ = signalGroup(p.cmd, false)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = signalGroup(p.cmd, true)
		<-p.exited
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devstack: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
