// Package proc starts and stops the local servers Plattr runs for tests and
// for `plattr dev`: each one a process with a pid file and a log file in a
// state directory, so a later command can find and stop it.
package proc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process describes one server to run.
type Process struct {
	Name string   // also the base name of its pid and log files
	Path string   // executable
	Args []string // arguments after the executable
	Env  []string // added to the current environment
	Dir  string   // state directory for pid and log files
	// Credential runs the process as another user (PostgreSQL refuses root).
	Credential *syscall.Credential
	// StopSignal asks the process to exit; zero means SIGTERM. PostgreSQL
	// needs SIGINT: its SIGTERM is a smart shutdown, which waits for every
	// client to disconnect (an operator's pool never does, so Stop waited
	// out its whole grace period).
	StopSignal syscall.Signal
}

// PIDFile is where the running process's pid is recorded.
func (p *Process) PIDFile() string { return filepath.Join(p.Dir, p.Name+".pid") }

// LogFile receives the process's standard output and error.
func (p *Process) LogFile() string { return filepath.Join(p.Dir, p.Name+".log") }

// Start runs the process in its own session, so it outlives the command that
// started it (a `plattr dev up` returns while the stack keeps running) and
// a terminal's Ctrl-C does not reach it.
func (p *Process) Start() error {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return err
	}
	if pid, ok := p.Running(); ok {
		return fmt.Errorf("%s is already running (pid %d); stop it first", p.Name, pid)
	}
	logf, err := os.OpenFile(p.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: p.Credential}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", p.Name, err)
	}
	// Reap it if it dies while we are still around, so it does not linger as
	// a zombie that Running would count as alive.
	go func() { _ = cmd.Wait() }()
	return os.WriteFile(p.PIDFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// Running reports the pid of the recorded process if it is alive.
func (p *Process) Running() (int, bool) {
	b, err := os.ReadFile(p.PIDFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, alive(pid)
}

func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie answers signal 0 but is gone.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// Stop sends StopSignal (SIGTERM), waits up to grace for the process to
// exit, then kills it. It waits for the exit so the process's ports are free
// when it returns.
func (p *Process) Stop(grace time.Duration) error {
	pid, ok := p.Running()
	if !ok {
		_ = os.Remove(p.PIDFile())
		return nil
	}
	sig := p.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	_ = syscall.Kill(pid, sig)
	deadline := time.Now().Add(grace)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // the whole session
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 100 && alive(pid); i++ {
				time.Sleep(20 * time.Millisecond)
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return os.Remove(p.PIDFile())
}

// Tail returns the last n lines of the process's log, for error messages.
func (p *Process) Tail(n int) string {
	b, err := os.ReadFile(p.LogFile())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitFor polls check until it succeeds, the process dies, or ctx ends. The
// error quotes the end of the process's log, which usually says why.
func (p *Process) WaitFor(ctx context.Context, what string, check func(context.Context) error) error {
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		if _, ok := p.Running(); !ok {
			return fmt.Errorf("%s exited before %s; last lines of %s:\n%s", p.Name, what, p.LogFile(), p.Tail(15))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: timed out waiting for %s (%v); see %s", p.Name, what, last, p.LogFile())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FindTool locates an executable built by hack/build-tools.sh: the
// directory named by envVar if set, else the newest binDir/<glob> holding
// file.
func FindTool(binDir, glob, file, envVar string) (string, error) {
	if d := os.Getenv(envVar); d != "" {
		return filepath.Join(d, file), nil
	}
	matches, _ := filepath.Glob(filepath.Join(binDir, glob))
	for i := len(matches) - 1; i >= 0; i-- {
		p := filepath.Join(matches[i], file)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s: build it with `make tools` (hack/build-tools.sh)", file, binDir)
}
