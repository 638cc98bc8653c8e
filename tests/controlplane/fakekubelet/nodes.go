package fakekubelet

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	leaseNamespace = "kube-node-lease"
	// As the kubelet's defaults: renew every 10s a lease that lasts 40s, so the node
	// lifecycle controller sees the nodes alive and lifts the not-ready taint it starts with.
	leaseSeconds  = 40
	renewInterval = 10 * time.Second
	// Nodes report this kubelet version; the scheduler and controllers never depend on it.
	kubeletVersion = "v1.36.3-fake"
)

// register creates each node (or brings an existing one back to its spec) and reports it
// Ready with its capacity.
func (k *Kubelet) register(ctx context.Context, spec NodeSpec) error {
	nodes := k.Client.CoreV1().Nodes()
	wanted := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: spec.Labels},
		Spec:       corev1.NodeSpec{Taints: taints(spec.Taints)},
	}
	node, err := nodes.Create(ctx, wanted, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = nodes.Get(ctx, spec.Name, metav1.GetOptions{})
		if err == nil {
			node.Labels, node.Spec.Taints = spec.Labels, wanted.Spec.Taints
			node, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("node %s: %w", spec.Name, err)
	}
	capacity := corev1.ResourceList{}
	for name, quantity := range spec.Capacity {
		value, err := resource.ParseQuantity(quantity)
		if err != nil {
			return fmt.Errorf("node %s: capacity %s: %w", spec.Name, name, err)
		}
		capacity[corev1.ResourceName(name)] = value
	}
	now := metav1.Now()
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			condition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", now),
			condition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", now),
			condition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", now),
			condition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", now),
		},
		// The API server never dials these nodes: nothing here calls logs or exec.
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"},
			{Type: corev1.NodeHostName, Address: spec.Name},
		},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:  kubeletVersion,
			OperatingSystem: "linux",
			Architecture:    "amd64",
		},
	}
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("node %s status: %w", spec.Name, err)
	}
	return nil
}

// renewLeases keeps every node's Lease fresh until ctx ends.
func (k *Kubelet) renewLeases(ctx context.Context) {
	ticker := time.NewTicker(renewInterval)
	defer ticker.Stop()
	for {
		for _, spec := range k.Nodes {
			if err := k.renew(ctx, spec.Name); err != nil && ctx.Err() == nil {
				k.logf("lease of %s: %v", spec.Name, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (k *Kubelet) renew(ctx context.Context, name string) error {
	leases := k.Client.CoordinationV1().Leases(leaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: leaseNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(name),
				LeaseDurationSeconds: ptr.To[int32](leaseSeconds),
				RenewTime:            &now,
			},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

func taints(specs []Taint) []corev1.Taint {
	out := make([]corev1.Taint, 0, len(specs))
	for _, t := range specs {
		out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return out
}

func condition(
	kind corev1.NodeConditionType, status corev1.ConditionStatus, reason string, now metav1.Time,
) corev1.NodeCondition {
	return corev1.NodeCondition{
		Type: kind, Status: status, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now,
	}
}
