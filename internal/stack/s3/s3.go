// Package s3 runs versitygw, an S3-compatible object store built from the Go
// module proxy, with its posix backend in a directory of ours: for tests and
// for the local stack.
package s3

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/plattr/plattr/internal/stack/proc"
)

// Server is one versitygw process.
type Server struct {
	Dir       string // data/, iam/, pid and log files
	Port      int    // S3 API
	AdminPort int    // admin API (users, bucket owners)
	AccessKey string // root account
	SecretKey string
	Binary    string
	proc      *proc.Process
}

// New describes a server; Binary is found under binDir.
func New(binDir, dir string, port, adminPort int, access, secret string) (*Server, error) {
	bin, err := proc.FindTool(binDir, "versitygw-v*", "versitygw", "PLATTR_VERSITYGW_BIN")
	if err != nil {
		return nil, err
	}
	return &Server{Dir: dir, Port: port, AdminPort: adminPort, AccessKey: access, SecretKey: secret, Binary: bin}, nil
}

// Endpoint is the S3 API's URL.
func (s *Server) Endpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.Port) }

// AdminEndpoint is the admin API's URL.
func (s *Server) AdminEndpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.AdminPort) }

func (s *Server) process() *proc.Process {
	if s.proc == nil {
		s.proc = &proc.Process{
			Name: "versitygw",
			Path: s.Binary,
			Args: []string{
				"--port", "127.0.0.1:" + strconv.Itoa(s.Port),
				"--admin-port", "127.0.0.1:" + strconv.Itoa(s.AdminPort),
				"--iam-dir", filepath.Join(s.Dir, "iam"),
				// versitygw writes a key change to its IAM file, then to its
				// cache, with no lock around the pair: two changes of one
				// user at once (a killed operator's write landing beside its
				// successor's) can leave the file with one key and the cache
				// with the other, which the drift sweep cannot see (it lists
				// the file). A short cache life ends that within seconds
				// instead of the default 120.
				"--iam-cache-ttl", "5",
				"--quiet",
				"posix", filepath.Join(s.Dir, "data"),
			},
			// Keys go through the environment, not argv, so `ps` cannot show them.
			Env: []string{"ROOT_ACCESS_KEY_ID=" + s.AccessKey, "ROOT_SECRET_ACCESS_KEY=" + s.SecretKey},
			Dir: s.Dir,
		}
	}
	return s.proc
}

// Start starts the server and waits until both ports answer.
func (s *Server) Start(ctx context.Context) error {
	for _, d := range []string{"data", "iam"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return err
		}
	}
	p := s.process()
	if _, ok := p.Running(); ok {
		return nil
	}
	if err := p.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return p.WaitFor(ctx, "accepting connections", func(context.Context) error {
		for _, port := range []int{s.Port, s.AdminPort} {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err != nil {
				return err
			}
			c.Close()
		}
		return nil
	})
}

// Running reports whether the process is alive.
func (s *Server) Running() bool { _, ok := s.process().Running(); return ok }

// Stop stops the server; its data stays.
func (s *Server) Stop() error { return s.process().Stop(10 * time.Second) }

// LogFile is the server's log.
func (s *Server) LogFile() string { return s.process().LogFile() }
