// Package nats runs a NATS server for tests and the local stack: hack/nats's
// small main around github.com/nats-io/nats-server/v2, in decentralized JWT
// mode — an operator JWT, a system account and a full resolver — so the
// accounts Plattr pushes with $SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE and the
// users it signs are checked by a real server exactly as in production.
//
// The keys are made once per state directory and kept there (keys.json), so
// a restarted local stack keeps its operator and the accounts it resolved.
package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/jwt/v2"
	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/plattr/plattr/internal/stack/proc"
)

// Keys are what a Plattr operator needs to run accounts on the server: the
// operator's signing key (accounts are signed with it) and a system-account
// user (the resolver's requests are answered only to the system account).
type Keys struct {
	// OperatorSeed is the operator's identity key; kept only here.
	OperatorSeed string `json:"operatorSeed"`
	// SigningKeySeed is the operator signing key Plattr holds.
	SigningKeySeed string `json:"signingKeySeed"`
	SystemSeed     string `json:"systemSeed"`
	// SystemUserCreds is a .creds file for a user of the system account.
	SystemUserCreds string `json:"systemUserCreds"`
	OperatorJWT     string `json:"operatorJWT"`
	SystemJWT       string `json:"systemJWT"`
	SystemAccount   string `json:"systemAccount"`
}

// NewKeys makes an operator with one signing key and a system account with
// one user.
func NewKeys() (*Keys, error) {
	op, err := nkeys.CreateOperator()
	if err != nil {
		return nil, err
	}
	sk, _ := nkeys.CreateOperator()
	sys, _ := nkeys.CreateAccount()
	su, _ := nkeys.CreateUser()
	opPub, _ := op.PublicKey()
	skPub, _ := sk.PublicKey()
	sysPub, _ := sys.PublicKey()
	suPub, _ := su.PublicKey()

	oc := jwt.NewOperatorClaims(opPub)
	oc.Name = "plattr-local"
	oc.SigningKeys.Add(skPub)
	oc.SystemAccount = sysPub
	opJWT, err := oc.Encode(op)
	if err != nil {
		return nil, err
	}
	ac := jwt.NewAccountClaims(sysPub)
	ac.Name = "SYS"
	// The system account exports what the server answers on.
	ac.Exports = jwt.Exports{
		&jwt.Export{Name: "account-monitoring-services", Subject: "$SYS.REQ.ACCOUNT.*.*", Type: jwt.Service, ResponseType: jwt.ResponseTypeStream, AccountTokenPosition: 4},
		&jwt.Export{Name: "account-monitoring-streams", Subject: "$SYS.ACCOUNT.*.>", Type: jwt.Stream, AccountTokenPosition: 3},
	}
	sysJWT, err := ac.Encode(sk)
	if err != nil {
		return nil, err
	}
	uc := jwt.NewUserClaims(suPub)
	uc.Name = "plattr-operator"
	uc.IssuerAccount = ""
	userJWT, err := uc.Encode(sys)
	if err != nil {
		return nil, err
	}
	suSeed, _ := su.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, suSeed)
	if err != nil {
		return nil, err
	}
	opSeed, _ := op.Seed()
	skSeed, _ := sk.Seed()
	sysSeed, _ := sys.Seed()
	return &Keys{
		OperatorSeed: string(opSeed), SigningKeySeed: string(skSeed), SystemSeed: string(sysSeed),
		SystemUserCreds: string(creds), OperatorJWT: opJWT, SystemJWT: sysJWT, SystemAccount: sysPub,
	}, nil
}

// Server is one NATS server process.
type Server struct {
	Dir    string // keys, config, resolver directory, pid and log files
	Port   int
	Keys   *Keys
	Binary string
	proc   *proc.Process
}

// New describes a server with its state in dir (keys made when it first
// starts);
// Binary is found under binDir (bin/nats-v*/nats-server, or the directory
// in PLATTR_NATS_BIN).
func New(binDir, dir string, port int) (*Server, error) {
	bin, err := proc.FindTool(binDir, "nats-v*", "nats-server", "PLATTR_NATS_BIN")
	if err != nil {
		return nil, err
	}
	return &Server{Dir: dir, Port: port, Binary: bin}, nil
}

// prepare makes the state directory and the keys, once.
func (s *Server) prepare() error {
	if s.Keys != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "jwt"), 0o700); err != nil {
		return err
	}
	keys, err := loadKeys(filepath.Join(s.Dir, "keys.json"))
	s.Keys = keys
	return err
}

func loadKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k := &Keys{}
		return k, json.Unmarshal(b, k)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := NewKeys()
	if err != nil {
		return nil, err
	}
	b, _ = json.Marshal(k)
	return k, os.WriteFile(path, b, 0o600)
}

// URL is the client URL.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.Port) }

func (s *Server) config() string {
	return fmt.Sprintf(`listen: "127.0.0.1:%d"
server_name: plattr-local
operator: %q
system_account: %s
resolver: {
  type: full
  dir: %q
  allow_delete: false
  interval: "2m"
}
resolver_preload: {
  %s: %q
}
`, s.Port, s.Keys.OperatorJWT, s.Keys.SystemAccount, filepath.Join(s.Dir, "jwt"), s.Keys.SystemAccount, s.Keys.SystemJWT)
}

func (s *Server) process() *proc.Process {
	if s.proc == nil {
		s.proc = &proc.Process{Name: "nats-server", Path: s.Binary, Args: []string{"-c", filepath.Join(s.Dir, "nats.conf")}, Dir: s.Dir}
	}
	return s.proc
}

// Start starts the server and waits until the system account's user can
// connect and the server answers a request of the system account.
func (s *Server) Start(ctx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	p := s.process()
	if _, ok := p.Running(); ok {
		return nil
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "nats.conf"), []byte(s.config()), 0o600); err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return p.WaitFor(ctx, "answering the system account", func(context.Context) error {
		nc, err := s.SystemConn()
		if err != nil {
			return err
		}
		defer nc.Close()
		_, err = nc.Request("$SYS.REQ.SERVER.PING", nil, 2*time.Second)
		return err
	})
}

// SystemConn connects as the system account's user.
func (s *Server) SystemConn() (*natsgo.Conn, error) {
	return Connect(s.URL(), []byte(s.Keys.SystemUserCreds), natsgo.MaxReconnects(0))
}

// Connect connects with a .creds file's content, as a workload would with
// its NATS_CREDS file.
func Connect(url string, creds []byte, opts ...natsgo.Option) (*natsgo.Conn, error) {
	userJWT, err := jwt.ParseDecoratedJWT(creds)
	if err != nil {
		return nil, err
	}
	kp, err := jwt.ParseDecoratedNKey(creds)
	if err != nil {
		return nil, err
	}
	sign := func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }
	opts = append([]natsgo.Option{natsgo.UserJWT(func() (string, error) { return userJWT, nil }, sign), natsgo.Timeout(5 * time.Second)}, opts...)
	return natsgo.Connect(url, opts...)
}

// Running reports whether the process is alive.
func (s *Server) Running() bool { _, ok := s.process().Running(); return ok }

// Stop stops the server; its keys and resolved accounts stay in Dir.
func (s *Server) Stop() error { return s.process().Stop(10 * time.Second) }

// LogFile is the server's log.
func (s *Server) LogFile() string { return s.process().LogFile() }
