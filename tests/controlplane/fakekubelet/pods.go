package fakekubelet

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// sync moves one pod a step on, as a kubelet would report it: a pod being deleted is removed
// at once (no container to stop), a new pod is Running and Ready, and a Job's pod succeeds
// JobRunTime after it started. It returns how long to wait before looking at the pod again.
func (k *Kubelet) sync(ctx context.Context, name cache.ObjectName) (time.Duration, error) {
	pod, err := k.pods.Pods(name.Namespace).Get(name.Name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	pods := k.Client.CoreV1().Pods(pod.Namespace)
	if pod.DeletionTimestamp != nil {
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return 0, nil
	case corev1.PodRunning:
		if !ownedByJob(pod) {
			return 0, nil
		}
		left := time.Until(pod.Status.StartTime.Add(k.JobRunTime))
		if left > 0 {
			return left, nil
		}
		_, err := pods.UpdateStatus(ctx, succeeded(pod), metav1.UpdateOptions{})
		return 0, ignoreConflict(err)
	default:
		_, err := pods.UpdateStatus(ctx, running(pod), metav1.UpdateOptions{})
		if err == nil && ownedByJob(pod) {
			return k.JobRunTime, nil
		}
		return 0, ignoreConflict(err)
	}
}

// running is the pod with every container started and ready (readiness probes are taken as
// passed: nothing listens behind them). Pods get no IP: none is ever dialled here, and an
// address from any range would suggest otherwise.
func running(pod *corev1.Pod) *corev1.Pod {
	pod = pod.DeepCopy()
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.HostIP = "127.0.0.1"
	pod.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	pod.Status.StartTime = &now
	pod.Status.Conditions = conditions(now, corev1.ConditionTrue)
	pod.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses,
			terminated(c, now, "Completed"))
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:    c.Name,
			Image:   c.Image,
			Ready:   true,
			Started: ptr.To(true),
			State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return pod
}

// succeeded is the Job's pod with every container exited 0.
func succeeded(pod *corev1.Pod) *corev1.Pod {
	pod = pod.DeepCopy()
	now := metav1.Now()
	pod.Status.Phase = corev1.PodSucceeded
	pod.Status.Conditions = conditions(now, corev1.ConditionFalse)
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses,
			terminated(c, now, "Completed"))
	}
	return pod
}

func terminated(c corev1.Container, now metav1.Time, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:    c.Name,
		Image:   c.Image,
		Started: ptr.To(false),
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 0, Reason: reason, StartedAt: now, FinishedAt: now,
		}},
	}
}

// conditions are a started pod's; ready says whether its containers still run and serve.
func conditions(now metav1.Time, ready corev1.ConditionStatus) []corev1.PodCondition {
	podCondition := func(kind corev1.PodConditionType, status corev1.ConditionStatus) corev1.PodCondition {
		return corev1.PodCondition{Type: kind, Status: status, LastTransitionTime: now}
	}
	return []corev1.PodCondition{
		podCondition(corev1.PodScheduled, corev1.ConditionTrue),
		podCondition(corev1.PodReadyToStartContainers, corev1.ConditionTrue),
		podCondition(corev1.PodInitialized, corev1.ConditionTrue),
		podCondition(corev1.ContainersReady, ready),
		podCondition(corev1.PodReady, ready),
	}
}

func ownedByJob(pod *corev1.Pod) bool {
	for _, owner := range pod.OwnerReferences {
		if owner.Kind == "Job" && owner.Controller != nil && *owner.Controller {
			return true
		}
	}
	return false
}

// ignoreConflict drops a stale update: the informer brings the newer pod back to sync.
func ignoreConflict(err error) error {
	if apierrors.IsConflict(err) {
		return nil
	}
	return err
}
