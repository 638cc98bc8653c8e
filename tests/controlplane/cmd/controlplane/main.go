// Command controlplane is every process of the local control plane in one binary: the
// Kubernetes components share most of their packages, so one link (and one file on disk)
// instead of four saves minutes of build time and hundreds of megabytes.
//
//	controlplane etcd --data-dir ...
//	controlplane kube-apiserver --etcd-servers ...
//	controlplane kube-controller-manager --kubeconfig ...
//	controlplane kube-scheduler --kubeconfig ...
//	controlplane fake-kubelet --kubeconfig ... --nodes nodes.json
//
// The component is the first argument, or the name the binary was called by (a symlink).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // the build-info metric, as upstream's mains
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"

	"modelsync.dev/tests/controlplane/fakekubelet"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"fake-kubelet":            fakekubelet.NewCommand,
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, known := commands[name]; !known && name != "etcd" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	if name == "etcd" {
		// etcdmain parses os.Args itself, the program name first.
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	newCommand, known := commands[name]
	if !known {
		fmt.Fprintf(os.Stderr, "usage: controlplane etcd|kube-apiserver|kube-controller-manager|kube-scheduler|fake-kubelet [flags]\n")
		os.Exit(2)
	}
	command := newCommand()
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
