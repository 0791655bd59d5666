package main

// Test harness for the calls test: Kamailio and baresip, real processes on
// loopback, started and stopped by the test.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needBinaries skips the test, loudly, when a Debian package it drives is
// missing (.ci/install-deps installs them; make test and .ci/run call it).
func needBinaries(t *testing.T, bins map[string]string) {
	t.Helper()
	var missing []string
	for bin, pkg := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", bin, pkg))
		}
	}
	for _, m := range []struct{ file, pkg string }{{"json.so", "kamailio-json-modules"}, {"http_client.so", "kamailio-utils-modules"}} {
		if found, _ := filepath.Glob("/usr/lib/*/kamailio/modules/" + m.file); len(found) == 0 {
			if found, _ = filepath.Glob("/usr/lib/kamailio/modules/" + m.file); len(found) == 0 {
				missing = append(missing, fmt.Sprintf("Kamailio module %s (Debian package %s)", m.file, m.pkg))
			}
		}
	}
	if len(missing) > 0 {
		msg := "SKIPPED: the calls test needs " + strings.Join(missing, ", ") + "; run `bash .ci/install-deps` (make test and .ci/run do)"
		fmt.Fprintf(os.Stderr, "\n!!! %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// proc is a child process in its own process group, stopped on cleanup.
type proc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- %s output (tail) ----\n%s", filepath.Base(name), tail(p.log.String(), 6000))
		}
	})
	return p
}

// stop ends the process group this test started (by its id).
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// waitTCP waits until addr accepts TCP connections.
func waitTCP(t *testing.T, addr string, p *proc, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("%s exited:\n%s", p.cmd.Path, tail(p.log.String(), 4000))
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: nothing listening on %s after %s:\n%s", p.cmd.Path, addr, within, tail(p.log.String(), 4000))
}

// phoneAccount is what a desk phone's provisioning file tells it.
type phoneAccount struct {
	User, AuthName, Password string
	Registrar                string
	Port                     int
	Transport                string // udp, tcp, tls
	Proxy                    string // "" when the file sets no outbound proxy
	ProxyPort                int
}

// readYealink reads the account of a Yealink <mac>.cfg the run wrote
// (keys as in internal/provision/templates/yealink.cfg.tmpl).
func readYealink(t *testing.T, path string) phoneAccount {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " = ")
		if ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	num := func(k string) int {
		n, err := strconv.Atoi(kv[k])
		if err != nil {
			t.Fatalf("%s: %s = %q: %v", path, k, kv[k], err)
		}
		return n
	}
	a := phoneAccount{
		User: kv["account.1.user_name"], AuthName: kv["account.1.auth_name"], Password: kv["account.1.password"],
		Registrar: kv["account.1.sip_server.1.address"], Port: num("account.1.sip_server.1.port"),
		Transport: map[string]string{"0": "udp", "1": "tcp", "2": "tls"}[kv["account.1.sip_server.1.transport_type"]],
	}
	if kv["account.1.outbound_proxy_enable"] == "1" {
		a.Proxy, a.ProxyPort = kv["account.1.outbound_proxy.1.address"], num("account.1.outbound_proxy.1.port")
	}
	if a.User == "" || a.Password == "" || a.Registrar == "" || a.Transport == "" {
		t.Fatalf("%s: incomplete account %+v", path, a)
	}
	return a
}

// uaEvent is one baresip ctrl_tcp event.
type uaEvent struct {
	Type      string `json:"type"`
	Param     string `json:"param"`
	PeerURI   string `json:"peeruri"`
	Direction string `json:"direction"`
	Event     bool   `json:"event"`
	Response  bool   `json:"response"`
	OK        bool   `json:"ok"`
	Data      string `json:"data"`
}

// ua is a running baresip driven over its ctrl_tcp interface (netstring
// JSON commands and events, as baresip's modules/ctrl_tcp documents them;
// commands are the menu module's: uanew, dial, hangup).
type ua struct {
	name   string
	proc   *proc
	conn   net.Conn
	events chan uaEvent
}

// uaAccount is one baresip account line.
type uaAccount struct {
	AOR      string // sip:user@domain[:port][;transport=x]
	AuthUser string
	Password string
	Outbound string // outbound proxy URI, "" for none
	Register bool
}

func (a uaAccount) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<%s>", a.AOR)
	if a.AuthUser != "" {
		fmt.Fprintf(&b, ";auth_user=%s;auth_pass=%s", a.AuthUser, a.Password)
	}
	if a.Outbound != "" {
		fmt.Fprintf(&b, ";outbound=\"%s\"", a.Outbound)
	}
	if a.Register {
		b.WriteString(";regint=3600")
	} else {
		b.WriteString(";regint=0")
	}
	b.WriteString(";answermode=auto")
	return b.String()
}

// accountFromPhone builds the baresip account a phone with this
// provisioning file would use: AOR at the registrar, the file's outbound
// proxy, transport and port.
func accountFromPhone(a phoneAccount) uaAccount {
	acc := uaAccount{
		AOR:      fmt.Sprintf("sip:%s@%s;transport=%s", a.User, net.JoinHostPort(a.Registrar, strconv.Itoa(a.Port)), a.Transport),
		AuthUser: a.AuthName, Password: a.Password, Register: true,
	}
	if acc.AuthUser == "" {
		acc.AuthUser = a.User
	}
	if a.Proxy != "" {
		acc.Outbound = fmt.Sprintf("sip:%s;transport=%s", net.JoinHostPort(a.Proxy, strconv.Itoa(a.ProxyPort)), a.Transport)
	}
	return acc
}

// startUA starts baresip with one account. Audio: a silent WAV as source,
// no sound device.
func startUA(t *testing.T, name string, acc uaAccount) *ua {
	t.Helper()
	dir := t.TempDir()
	wav := filepath.Join(dir, "silence.wav")
	writeSilence(t, wav, 60)
	ctrl := freePort(t)
	modules := "/usr/lib/baresip/modules"
	if found, _ := filepath.Glob("/usr/lib/*/baresip/modules/account.so"); len(found) > 0 {
		modules = filepath.Dir(found[0])
	}
	config := fmt.Sprintf(`poll_method		epoll
sip_listen		127.0.0.1:0
net_interface		127.0.0.1
audio_player		aufile,%[1]s.rx
audio_source		aufile,%[1]s
audio_alert		aufile,%[1]s.alert
module_path		%[2]s
module			g711.so
module			aufile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:%[3]d
`, wav, modules, ctrl)
	must(t, os.WriteFile(filepath.Join(dir, "config"), []byte(config), 0o600))
	// The account is added once the control connection is up (uanew), so
	// no registration event is sent before the test listens.
	must(t, os.WriteFile(filepath.Join(dir, "accounts"), nil, 0o600))
	p := startProc(t, "baresip", "-f", dir)
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", ctrl), p, 20*time.Second)
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ctrl))
	if err != nil {
		t.Fatal(err)
	}
	u := &ua{name: name, proc: p, conn: conn, events: make(chan uaEvent, 256)}
	go u.read()
	t.Cleanup(func() { conn.Close() })
	u.command(t, "uanew", acc.line())
	return u
}

// read parses netstrings ("<len>:<json>,") from baresip.
func (u *ua) read() {
	defer close(u.events)
	r := bufio.NewReader(u.conn)
	for {
		head, err := r.ReadString(':')
		if err != nil {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(head[:len(head)-1]))
		if err != nil || n < 0 || n > 1<<20 {
			return
		}
		body := make([]byte, n+1)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var ev uaEvent
		if json.Unmarshal(body[:n], &ev) == nil {
			u.events <- ev
		}
	}
}

func (u *ua) command(t *testing.T, cmd, params string) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"command": cmd, "params": params, "token": cmd})
	if _, err := fmt.Fprintf(u.conn, "%d:%s,", len(b), b); err != nil {
		t.Fatalf("%s: %s: %v", u.name, cmd, err)
	}
}

// await returns the first event whose type is one of types.
func (u *ua) await(t *testing.T, within time.Duration, types ...string) uaEvent {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-u.events:
			if !ok {
				t.Fatalf("%s: baresip closed its control connection; output:\n%s", u.name, tail(u.proc.log.String(), 4000))
			}
			for _, ty := range types {
				if ev.Type == ty {
					return ev
				}
			}
		case <-timer.C:
			t.Fatalf("%s: no %v within %s; output:\n%s", u.name, types, within, tail(u.proc.log.String(), 4000))
		}
	}
}

// drain drops queued events.
func (u *ua) drain() {
	for {
		select {
		case <-u.events:
		default:
			return
		}
	}
}

// call dials target and reports whether the call was answered, with the
// final status of a failed one (e.g. "404 Not Found"). When callee is
// given, an answered call must also be established there (its ACK
// arrived) before it is hung up, so the BYE can't overtake the ACK.
func (u *ua) call(t *testing.T, target string, callee *ua) (answered bool, closed string) {
	t.Helper()
	u.drain()
	if callee != nil {
		callee.drain()
	}
	u.command(t, "dial", target)
	ev := u.await(t, 20*time.Second, "CALL_ESTABLISHED", "CALL_CLOSED")
	if ev.Type == "CALL_CLOSED" {
		return false, ev.Param
	}
	if callee != nil {
		callee.await(t, 10*time.Second, "CALL_ESTABLISHED")
	} else {
		time.Sleep(500 * time.Millisecond)
	}
	u.command(t, "hangup", "")
	u.await(t, 10*time.Second, "CALL_CLOSED")
	if callee != nil {
		callee.await(t, 10*time.Second, "CALL_CLOSED")
	}
	return true, ""
}

// writeSilence writes a mono 8 kHz 16-bit PCM WAV of secs seconds.
func writeSilence(t *testing.T, path string, secs int) {
	t.Helper()
	samples := 8000 * secs
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + 2*samples))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))
	w(uint16(1))
	w(uint32(8000))
	w(uint32(16000))
	w(uint16(2))
	w(uint16(16))
	b.WriteString("data")
	w(uint32(2 * samples))
	b.Write(make([]byte, 2*samples))
	must(t, os.WriteFile(path, b.Bytes(), 0o600))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// withTimeout is a context for one step of the test.
func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
