// Command k8s is one multi-call binary holding the upstream Kubernetes
// control-plane programs and etcd. Linking them once instead of five times
// saves most of a cold build. It dispatches on the name it was called by
// (bin/k8s-<version>/kube-apiserver is a symlink to it) or, failing that, on
// its first argument: `k8s kubectl get pods`.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

var programs = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubectl":                 kubectlcmd.NewDefaultKubectlCommand,
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	if name == "etcd" {
		etcdmain.Main(args)
		return
	}
	if _, ok := programs[name]; !ok && len(args) > 1 {
		name, args = args[1], args[1:]
		if name == "etcd" {
			etcdmain.Main(args)
			return
		}
	}
	newCommand, ok := programs[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "k8s: unknown program %q; call it as one of etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl\n", name)
		os.Exit(2)
	}
	os.Args = args
	command := newCommand()
	command.SetArgs(args[1:])
	os.Exit(cli.Run(command))
}
