package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"
)

func newRunCommand(g *globals) *cobra.Command {
	var tf targetFlags
	cmd := &cobra.Command{
		Use:   "run -- COMMAND [ARG...]",
		Short: "Run your app's own process here with exactly the environment its pods get",
		Long: `Run a command on this machine with the environment the app's pods get —
DATABASE_URL, S3_*, AUTH_*, PORT and spec.envVars — resolved from the cluster,
so you work against the app's real database, buckets and OIDC client without
containers. Your own environment comes first; the app's wins where both set a
variable.`,
		Example: `  plattr run -- npm run dev
  plattr run --env preview --pr 42 -- go run ./cmd/server
  plattr run -- env`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("what to run? plattr run -- COMMAND [ARG...]")
			}
			env, err := g.appEnv(cmd, &tf)
			if err != nil {
				return err
			}
			c := exec.CommandContext(cmd.Context(), args[0], args[1:]...)
			c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			c.Env = os.Environ()
			for _, k := range sortedKeys(env) {
				c.Env = append(c.Env, k+"="+env[k])
			}
			if err := c.Run(); err != nil {
				var exit *exec.ExitError
				if errors.As(err, &exit) {
					return fmt.Errorf("%s exited with code %d", args[0], exit.ExitCode())
				}
				return err
			}
			return nil
		},
	}
	tf.add(cmd)
	return cmd
}
