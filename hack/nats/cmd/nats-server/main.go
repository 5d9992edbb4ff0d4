// Command nats-server runs the NATS server (github.com/nats-io/nats-server/v2)
// as a library for Plattr's tests and local stack. It takes the upstream
// server's own flags (most usefully -c <config file>) and runs it; nothing of
// the server is copied or patched. It lives in its own module so the server's
// dependencies never constrain Plattr's (Kubernetes') versions.
//
// Plattr's internal/stack/nats writes the config: operator JWT mode, a system
// account and a full resolver, so accounts are pushed with
// $SYS.REQ.ACCOUNT.<id>.CLAIMS.UPDATE exactly as on a production server.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	fs := flag.NewFlagSet("nats-server", flag.ExitOnError)
	opts, err := server.ConfigureOptions(fs, os.Args[1:], server.PrintServerAndExit, fs.Usage, server.PrintTLSHelpAndDie)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats-server:", err)
		os.Exit(1)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nats-server:", err)
		os.Exit(1)
	}
	if err := server.Run(s); err != nil {
		fmt.Fprintln(os.Stderr, "nats-server:", err)
		os.Exit(1)
	}
	s.WaitForShutdown()
}
