// Command dex runs Dex (github.com/dexidp/dex) as a library for Plattr's
// tests and local stack. Upstream's cmd/dex does not build from the module
// proxy (it needs an unpublished api/v2), so this small main wires Dex's own
// server and storage packages together; nothing of Dex is copied or patched.
//
// Storage is Dex's Kubernetes storage: OAuth2 clients and connectors are
// custom resources (group dex.coreos.com) that the Plattr operator writes,
// exactly as it would for a Dex installed in a real cluster with that
// storage. Test users are static passwords, usable with the password grant.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dexidp/dex/server"
	"github.com/dexidp/dex/server/signer"
	"github.com/dexidp/dex/storage"
	"github.com/dexidp/dex/storage/kubernetes"
)

type users []string

func (u *users) String() string     { return strings.Join(*u, ",") }
func (u *users) Set(v string) error { *u = append(*u, v); return nil }

func main() {
	issuer := flag.String("issuer", "", "issuer URL, e.g. http://127.0.0.1:5556/dex (required)")
	addr := flag.String("http", "127.0.0.1:5556", "address to serve HTTP on")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster holding Dex's custom resources (required); its context's namespace is where clients live")
	var staticUsers users
	flag.Var(&staticUsers, "user", "a password-database user as email:password (repeatable); used with the password grant")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(*issuer, *addr, *kubeconfig, staticUsers, logger); err != nil {
		fmt.Fprintf(os.Stderr, "dex: %v\n", err)
		os.Exit(1)
	}
}

func run(issuer, addr, kubeconfig string, staticUsers []string, logger *slog.Logger) error {
	if issuer == "" || kubeconfig == "" {
		return errors.New("--issuer and --kubeconfig are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	kube := kubernetes.Config{KubeConfigFile: kubeconfig}
	var s storage.Storage
	var err error
	// The API server may still be starting: Dex's storage gives up at once.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if s, err = kube.Open(logger); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("opening Kubernetes storage: %w", err)
	}
	// Custom resources Dex has just defined are served a moment later (the
	// API server answers 429 meanwhile); wait for them before starting.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err = s.ListConnectors(ctx)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("Dex's custom resources are not served: %w", err)
	}

	var passwords []storage.Password
	for _, u := range staticUsers {
		email, password, ok := strings.Cut(u, ":")
		if !ok || email == "" || password == "" {
			return fmt.Errorf("--user %q: want email:password", email)
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		passwords = append(passwords, storage.Password{
			Email: email, Hash: hash, Username: strings.Split(email, "@")[0], UserID: email,
		})
	}
	s = storage.WithStaticPasswords(s, passwords, logger)
	s = storage.WithStaticConnectors(s, []storage.Connector{{ID: "local", Type: "local", Name: "Email"}})

	local := signer.LocalConfig{KeysRotationPeriod: "6h"}
	sig, err := local.Open(ctx, s, 24*time.Hour, time.Now, logger)
	if err != nil {
		return fmt.Errorf("opening the signer: %w", err)
	}
	srv, err := server.NewServer(ctx, server.Config{
		Issuer:                 issuer,
		Storage:                s,
		Logger:                 logger,
		Signer:                 sig,
		SkipApprovalScreen:     true,
		PasswordConnector:      "local",
		AllowedGrantTypes:      []string{"authorization_code", "refresh_token", "password", "client_credentials"},
		SupportedResponseTypes: []string{"code"},
		// Connectors Plattr creates with placeholder credentials fail to
		// open (no network here); the others must keep working.
		ContinueOnConnectorFailure: true,
	})
	if err != nil {
		return fmt.Errorf("starting Dex: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(shutdown)
	}()
	logger.Info("serving", "issuer", issuer, "addr", ln.Addr().String())
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
