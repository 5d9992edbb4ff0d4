// Command plattr is Plattr's CLI for app developers.
package main

import (
	"fmt"
	"os"

	"github.com/plattr/plattr/internal/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "plattr:", err)
		os.Exit(1)
	}
}
