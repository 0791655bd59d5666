package devstack

import (
	"os/exec"
	"runtime"
	"syscall"
)

// childProcAttr puts the child in its own process group (so that stop
// reaches the JVM's children too) and asks the kernel to kill it when the
// thread that started it dies, so a crashed test leaves no JVM behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// startChild starts cmd and waits for it on one locked OS thread: Pdeathsig
// fires when the starting thread exits, and Go may retire idle threads, so
// the thread must live as long as the child.
func startChild(cmd *exec.Cmd, exited func(error)) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			runtime.UnlockOSThread()
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		runtime.UnlockOSThread()
		exited(err)
	}()
	return <-started
}

func signalGroup(cmd *exec.Cmd, kill bool) error {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	return syscall.Kill(-cmd.Process.Pid, sig)
}
