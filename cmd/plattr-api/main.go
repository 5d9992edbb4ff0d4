// Command plattr-api serves the platform API (and, later, the portal). Its
// configuration comes from the environment; see docs/API.md.
//
//	plattr-api                                   serve
//	plattr-api migrate                           run the schema migrations and exit
//	plattr-api token --email E [--name N] [--expires-in 720h] [--out FILE]
//	                                             issue an API token for E (a site admin
//	                                             named in SITE_ADMINS, or an existing user);
//	                                             print it, or write it to FILE (0600)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/plattr/plattr/internal/platformapi"
	"github.com/plattr/plattr/internal/platformapi/authn"
	"github.com/plattr/plattr/internal/platformapi/store"
)

// Version is set at build time.
var Version = "dev"

func main() {
	ctrl.SetLogger(zap.New())
	cfg, err := platformapi.ConfigFromEnv()
	if err != nil {
		fmt.Fprintf(os.Stderr, "plattr-api: configuration error:\n%v\n", err)
		os.Exit(2)
	}
	ctx := ctrl.SetupSignalHandler()
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "", "serve":
		err = serve(ctx, cfg)
	case "migrate":
		var st *store.Store
		if st, err = store.Open(ctx, cfg.DatabaseURL, 1); err == nil {
			v, _ := st.Version(ctx)
			fmt.Printf("schema %s at version %d\n", store.Schema, v)
			st.Close()
		}
	case "token":
		err = token(ctx, cfg, os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "plattr-api: unknown command %q: want serve, migrate or token\n", cmd)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "plattr-api: %v\n", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, cfg platformapi.Config) error {
	rc, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("no Kubernetes API server: %v (set KUBECONFIG or run in a cluster)", err)
	}
	return platformapi.Run(ctx, cfg, rc, platformapi.Options{Version: Version, Log: ctrl.Log.WithName("plattr-api")})
}

// token issues a token straight into the store: the way to a first token
// for CI, or for the local stack's site admin, before anyone signs in.
func token(ctx context.Context, cfg platformapi.Config, args []string) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	email := fs.String("email", "", "the user the token acts as (required)")
	name := fs.String("name", "cli", "what the token is for")
	expiresIn := fs.Duration("expires-in", 90*24*time.Hour, "lifetime, at most TOKEN_MAX_TTL; 0 for none (only with TOKEN_MAX_TTL=none)")
	out := fs.String("out", "", "write the token to this file (mode 0600, replaced in one rename) instead of printing it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("--email is required: the user the token acts as")
	}
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "expires-in" })
	if !set && cfg.TokenMaxTTL > 0 {
		*expiresIn = min(*expiresIn, cfg.TokenMaxTTL)
	}
	if cfg.TokenMaxTTL > 0 && (*expiresIn <= 0 || *expiresIn > cfg.TokenMaxTTL) {
		return fmt.Errorf("--expires-in=%s: this site caps API tokens at %s (TOKEN_MAX_TTL); ask for at most that", *expiresIn, cfg.TokenMaxTTL)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	auth := &authn.Authenticator{Store: st, SiteAdmins: cfg.SiteAdmins}
	if err := auth.Bootstrap(ctx); err != nil {
		return err
	}
	u, err := st.UserByEmail(ctx, strings.ToLower(*email))
	if err != nil {
		return fmt.Errorf("no user %s: name them in SITE_ADMINS, or let them sign in once", *email)
	}
	secret, tok, err := auth.IssueToken(ctx, u.ID, *name, *expiresIn)
	if err != nil {
		return err
	}
	if *out == "" {
		fmt.Println(secret)
		return nil
	}
	if err := writeTokenFile(*out, secret); err != nil {
		// The token is useless to anyone now: revoke it rather than
		// leave a live credential nobody holds.
		_ = st.RevokeToken(ctx, u.ID, tok.ID)
		return err
	}
	return nil
}
