// Package postgres runs a throwaway PostgreSQL server from the machine's own
// binaries (Debian's postgresql package) in a directory of ours: for tests
// and for the local stack. Nothing is installed system-wide.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/plattr/plattr/internal/stack/proc"
)

// Server is one PostgreSQL server whose data lives under Dir.
type Server struct {
	Dir      string // holds data/, the socket, the pid and log files
	Port     int
	Password string // of the superuser "postgres"
	proc     *proc.Process
}

// BinDir finds the directory holding initdb and postgres: PG_BIN, then
// PATH, then Debian's /usr/lib/postgresql/<newest>/bin.
func BinDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL server binaries not found: install them with `apt-get install -y postgresql` (or set PG_BIN to the directory holding initdb)")
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// New describes a server in dir; Start creates its data directory on first use.
func New(dir string, port int, password string) *Server {
	s := &Server{Dir: dir, Port: port, Password: password}
	return s
}

// URL is the superuser's connection URL.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable", s.Password, s.Port)
}

// credential: PostgreSQL refuses to run as root, so as root we run it as the
// "postgres" user that Debian's package creates.
func credential() (*syscall.Credential, int, int, error) {
	if os.Geteuid() != 0 {
		return nil, -1, -1, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, errors.New("running as root needs the 'postgres' system user (created by `apt-get install -y postgresql`)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid, nil
}

// Start initialises the data directory if needed, starts the server and
// waits until it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	bin, err := BinDir()
	if err != nil {
		return err
	}
	cred, uid, gid, err := credential()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	runDir := s.Dir
	if uid >= 0 && !reachableByOthers(s.Dir) {
		// The "postgres" user cannot reach a directory under, say, /root: keep
		// the server's files in a directory of their own it can reach, found
		// again from s.Dir's path.
		sum := sha256.Sum256([]byte(s.Dir))
		runDir = filepath.Join(os.TempDir(), "plattr-postgres-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(runDir, 0o755); err != nil {
			return err
		}
		_ = os.WriteFile(filepath.Join(s.Dir, "data-location"), []byte(runDir+"\n"), 0o644)
	}
	if uid >= 0 {
		if err := os.Chown(runDir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(runDir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		pwfile := filepath.Join(runDir, "pwfile")
		if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
			return err
		}
		if uid >= 0 {
			_ = os.Chown(pwfile, uid, gid)
		}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
			"--pwfile", pwfile, "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		_ = os.Remove(pwfile)
		if err != nil {
			return fmt.Errorf("initdb failed: %v\n%s", err, out)
		}
	}
	s.proc = &proc.Process{
		Name: "postgres", Path: filepath.Join(bin, "postgres"), Dir: s.Dir, Credential: cred, StopSignal: syscall.SIGINT,
		Args: []string{"-D", data, "-p", strconv.Itoa(s.Port), "-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=" + runDir, "-c", "fsync=off", "-c", "max_connections=200"},
	}
	if err := s.proc.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return s.proc.WaitFor(ctx, "accepting connections", func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, s.URL())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// reachableByOthers reports whether every directory from / down to dir lets
// other users through.
func reachableByOthers(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// Purge removes the server's data, wherever it was kept.
func (s *Server) Purge() error {
	if b, err := os.ReadFile(filepath.Join(s.Dir, "data-location")); err == nil {
		if err := os.RemoveAll(strings.TrimSpace(string(b))); err != nil {
			return err
		}
	}
	return os.RemoveAll(s.Dir)
}

// Stop shuts the server down with a fast shutdown (SIGINT): open
// connections are closed rather than waited for, as a smart shutdown
// (SIGTERM) would, up to the grace period, while a client holds a pool.
func (s *Server) Stop() error {
	if s.proc == nil {
		s.proc = &proc.Process{Name: "postgres", Dir: s.Dir, StopSignal: syscall.SIGINT}
	}
	return s.proc.Stop(30 * time.Second)
}
