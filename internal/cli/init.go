package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	platformv1 "github.com/plattr/plattr/api/v1alpha1"
	"github.com/plattr/plattr/internal/naming"
)

// initOptions are init's answers: from flags, detection, or questions.
type initOptions struct {
	name, framework, repository, environment, registry string
	port                                               int32
	database, storage, auth                            bool
	force, yes                                         bool
}

func newInitCommand(g *globals) *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Describe the app in plattr.yaml and write CI workflows: deploy on main, a preview per pull request",
		Long: `Write plattr.yaml — the app's name and what it needs — and two GitHub
Actions workflows: .github/workflows/plattr-deploy.yml (build, push and
deploy every push to main) and plattr-preview.yml (a preview per pull
request, removed when it closes). Anything not given as a flag is detected
(framework, repository) or, in a terminal, asked.`,
		Example: `  plattr init
  plattr init --name shop --framework nextjs --database --storage --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.Getwd()
			if err != nil {
				return err
			}
			interactive := !o.yes && isTerminal(cmd.InOrStdin())
			if err := o.complete(cmd, dir, interactive); err != nil {
				return err
			}
			return o.write(cmd.OutOrStdout(), dir)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "the app's name (default: the directory's)")
	f.StringVar(&o.framework, "framework", "", "nextjs, rails, static or docker (default: detected)")
	f.StringVar(&o.repository, "repository", "", "source repository, like github.com/org/app (default: git's origin)")
	f.StringVar(&o.environment, "environment", "staging", "where `plattr deploy` goes by default")
	f.StringVar(&o.registry, "registry", "", "image repository CI pushes to (default: ghcr.io/<org>/<app>)")
	f.Int32Var(&o.port, "port", 3000, "the port the app listens on")
	f.BoolVar(&o.database, "database", true, "a PostgreSQL schema of its own")
	f.BoolVar(&o.storage, "storage", false, "an object-storage bucket (uploads)")
	f.BoolVar(&o.auth, "auth", false, "an OIDC client for sign-in")
	f.BoolVar(&o.force, "force", false, "overwrite existing files")
	f.BoolVarP(&o.yes, "yes", "y", false, "ask nothing: take flags and detected values")
	return cmd
}

var appName = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

func (o *initOptions) complete(cmd *cobra.Command, dir string, interactive bool) error {
	in := bufio.NewReader(cmd.InOrStdin())
	ask := func(question, def string) string {
		if !interactive {
			return def
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s [%s]: ", question, def)
		line, _ := in.ReadString('\n')
		if line = strings.TrimSpace(line); line != "" {
			return line
		}
		return def
	}
	askBool := func(question string, def bool) bool {
		d := "y/N"
		if def {
			d = "Y/n"
		}
		a := strings.ToLower(ask(question, d))
		if a == strings.ToLower(d) {
			return def
		}
		return strings.HasPrefix(a, "y")
	}
	if o.name == "" {
		o.name = ask("App name", naming.DNSLabel(filepath.Base(dir)))
	}
	if !appName.MatchString(o.name) || len(o.name) > 40 {
		return fmt.Errorf("--name %q: lowercase letters, digits and '-', starting with a letter, at most 40", o.name)
	}
	if o.framework == "" {
		o.framework = ask("Framework (nextjs, rails, static, docker)", detectFramework(dir))
	}
	switch platformv1.Framework(o.framework) {
	case "nextjs", "rails", "static", "docker":
	default:
		return fmt.Errorf("--framework %q: want nextjs, rails, static or docker", o.framework)
	}
	if o.repository == "" {
		o.repository = ask("Repository", detectRepository(dir, o.name))
	}
	if _, err := resolveEnv(platformv1.Environment(o.environment), o.name, 1); err != nil || o.environment == "preview" {
		return fmt.Errorf("--environment %q: want staging, uat or production", o.environment)
	}
	if o.registry == "" {
		org := "your-org"
		if parts := strings.Split(o.repository, "/"); len(parts) == 3 {
			org = strings.ToLower(parts[1])
		}
		o.registry = "ghcr.io/" + org + "/" + o.name
	}
	if !cmd.Flags().Changed("database") {
		o.database = askBool("A PostgreSQL database?", o.database)
	}
	if !cmd.Flags().Changed("storage") {
		o.storage = askBool("Object storage (a bucket for uploads)?", o.storage)
	}
	if !cmd.Flags().Changed("auth") {
		o.auth = askBool("Sign-in (an OIDC client)?", o.auth)
	}
	return nil
}

// detectFramework guesses from the files at the root of the repository.
func detectFramework(dir string) string {
	has := func(name string) bool { return fileExists(filepath.Join(dir, name)) }
	contains := func(name, s string) bool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return err == nil && strings.Contains(string(b), s)
	}
	switch {
	case contains("package.json", `"next"`):
		return "nextjs"
	case contains("Gemfile", "rails"):
		return "rails"
	case has("Dockerfile"):
		return "docker"
	case has("index.html"):
		return "static"
	}
	return "docker"
}

// detectRepository reads git's origin, as host/org/name.
func detectRepository(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, ".git", "config"))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if url, ok := strings.CutPrefix(line, "url = "); ok {
				url = strings.TrimSuffix(url, ".git")
				url = strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "git@")
				return strings.Replace(url, ":", "/", 1)
			}
		}
	}
	return "github.com/your-org/" + name
}

func (o *initOptions) write(out io.Writer, dir string) error {
	p := Project{Name: o.name}
	p.Repository, p.Framework, p.Environment, p.Port = o.repository, platformv1.Framework(o.framework), platformv1.Environment(o.environment), o.port
	if o.database {
		p.Database = &platformv1.DatabaseSpec{Enabled: true}
	}
	if o.storage {
		p.Storage = &platformv1.StorageSpec{Enabled: true, Buckets: []platformv1.BucketSpec{{Name: "uploads"}}}
	}
	if o.auth {
		p.Auth = &platformv1.AuthSpec{Enabled: true}
	}
	body, err := yaml.Marshal(p)
	if err != nil {
		return err
	}
	files := map[string]string{
		ProjectFile: "# plattr.yaml: what " + o.name + " needs. `plattr deploy` applies it; fields as in the Application resource.\n" + string(body),
		filepath.Join(".github", "workflows", "plattr-deploy.yml"):  fmt.Sprintf(deployWorkflow, o.registry, o.environment),
		filepath.Join(".github", "workflows", "plattr-preview.yml"): fmt.Sprintf(previewWorkflow, o.registry),
	}
	var exists []string
	for name := range files {
		if fileExists(filepath.Join(dir, name)) {
			exists = append(exists, name)
		}
	}
	if len(exists) > 0 && !o.force {
		return errors.New(strings.Join(exists, ", ") + " exist already: pass --force to overwrite them")
	}
	for _, name := range []string{ProjectFile, filepath.Join(".github", "workflows", "plattr-deploy.yml"), filepath.Join(".github", "workflows", "plattr-preview.yml")} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s\n", name)
	}
	fmt.Fprintf(out, "Next: `plattr deploy --wait`; for CI set the repository variable PLATTR_API_URL (no secret: the workflows sign in with GitHub's OIDC token)\n")
	return nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// The workflows build the image, push it and hand it to plattr. Untrusted
// event fields reach shell steps only through env, never inline. They hold
// no cluster credential: plattr deploys through the platform API
// (PLATTR_API_URL, a repository variable) with the job's own GitHub OIDC
// ID token (permissions: id-token: write), which the API maps to the apps
// whose spec.repository names this repository.
const deployWorkflow = `# Written by plattr init: build, push and deploy every push to main.
# Keyless: the job's GitHub OIDC token is its credential at the platform API
# (set the repository variable PLATTR_API_URL; no secret is needed).
name: plattr deploy
on:
  push:
    branches: [main]
permissions:
  contents: read
  packages: write
  id-token: write
concurrency:
  group: plattr-deploy
  cancel-in-progress: false
env:
  IMAGE: %s
  PLATTR_API_URL: ${{ vars.PLATTR_API_URL }}
jobs:
  deploy:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: docker/login-action@v3
        with:
          registry: ghcr.io
          username: ${{ github.actor }}
          password: ${{ secrets.GITHUB_TOKEN }}
      - uses: docker/build-push-action@v6
        with:
          context: .
          push: true
          tags: ${{ env.IMAGE }}:${{ github.sha }}
      - uses: actions/setup-go@v5
        with:
          go-version: stable
      - name: Install plattr
        run: go install github.com/plattr/plattr/cmd/plattr@latest
      - name: Deploy
        env:
          SHA: ${{ github.sha }}
        run: plattr deploy --env %s --image "$IMAGE:$SHA" --wait --timeout 10m
`

// Pull requests from forks get no ID token (GitHub withholds id-token:
// write from them), so their jobs are skipped rather than failing.
const previewWorkflow = `# Written by plattr init: a preview per pull request, removed when it closes.
# Keyless: the job's GitHub OIDC token is its credential at the platform API
# (set the repository variable PLATTR_API_URL; no secret is needed).
name: plattr preview
on:
  pull_request:
    types: [opened, synchronize, reopened, closed]
permissions:
  contents: read
  packages: write
  pull-requests: write
  id-token: write
concurrency:
  group: plattr-preview-${{ github.event.pull_request.number }}
  cancel-in-progress: true
env:
  IMAGE: %s
  PLATTR_API_URL: ${{ vars.PLATTR_API_URL }}
jobs:
  preview:
    if: github.event.action != 'closed' && github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v4
      - uses: docker/login-action@v3
        with:
          registry: ghcr.io
          username: ${{ github.actor }}
          password: ${{ secrets.GITHUB_TOKEN }}
      - uses: docker/build-push-action@v6
        with:
          context: .
          push: true
          tags: ${{ env.IMAGE }}:pr-${{ github.event.pull_request.number }}-${{ github.event.pull_request.head.sha }}
      - uses: actions/setup-go@v5
        with:
          go-version: stable
      - name: Install plattr
        run: go install github.com/plattr/plattr/cmd/plattr@latest
      - name: Create the preview
        env:
          PR: ${{ github.event.pull_request.number }}
          SHA: ${{ github.event.pull_request.head.sha }}
        run: plattr preview create --pr "$PR" --image "$IMAGE:pr-$PR-$SHA" --wait --timeout 10m
  cleanup:
    if: github.event.action == 'closed' && github.event.pull_request.head.repo.full_name == github.repository
    runs-on: ubuntu-latest
    timeout-minutes: 15
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: stable
      - name: Install plattr
        run: go install github.com/plattr/plattr/cmd/plattr@latest
      - name: Delete the preview
        env:
          PR: ${{ github.event.pull_request.number }}
        run: plattr preview delete --pr "$PR" --wait
`
