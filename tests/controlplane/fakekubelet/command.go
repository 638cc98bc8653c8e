// Package fakekubelet plays the kubelet of fake GPU nodes: it registers the Nodes it is given
// and moves the Pods that the scheduler binds to them through the states a real kubelet
// reports (Running and Ready; a Job's Pod then Succeeded), without running any container.
//
// Nodes come from a JSON file written by the launcher (tests/controlplane/nodes.py), so the
// translation of a cluster.yaml's node pools stays in one place, in Python beside the code
// that reads cluster.yaml.
package fakekubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// NodeSpec is one fake node, as the launcher writes it.
type NodeSpec struct {
	Name     string            `json:"name"`
	Labels   map[string]string `json:"labels"`
	Taints   []Taint           `json:"taints"`
	Capacity map[string]string `json:"capacity"`
}

// Taint is a Node taint (key, value, effect).
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// NewCommand is `controlplane fake-kubelet --kubeconfig FILE --nodes FILE`.
func NewCommand() *cobra.Command {
	var kubeconfig, nodesFile string
	var jobSeconds float64
	command := &cobra.Command{
		Use:          "fake-kubelet",
		Short:        "register fake nodes and report their pods Running and Ready",
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			nodes, err := readNodes(nodesFile)
			if err != nil {
				return err
			}
			config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			// One client serves every node: raise client-go's default throttle (5 qps) so
			// a burst of scheduled pods is reported in well under a second.
			config.QPS, config.Burst = 200, 400
			client, err := kubernetes.NewForConfig(config)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			kubelet := &Kubelet{
				Client:     client,
				Nodes:      nodes,
				JobRunTime: time.Duration(jobSeconds * float64(time.Second)),
			}
			return kubelet.Run(ctx)
		},
	}
	flags := command.Flags()
	flags.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of a user allowed to write nodes and pods")
	flags.StringVar(&nodesFile, "nodes", "", "JSON list of the nodes to register")
	flags.Float64Var(&jobSeconds, "job-seconds", 1, "how long a Job's pod runs before it succeeds")
	_ = command.MarkFlagRequired("kubeconfig")
	_ = command.MarkFlagRequired("nodes")
	return command
}

func readNodes(path string) ([]NodeSpec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nodes []NodeSpec
	if err := json.Unmarshal(data, &nodes); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nodes, nil
}
