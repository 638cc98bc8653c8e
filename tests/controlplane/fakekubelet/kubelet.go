package fakekubelet

import (
	"context"
	"fmt"
	"log"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// workers report pods in parallel; a status update is one small request.
const workers = 4

// Kubelet is the fake kubelet of every node in Nodes.
type Kubelet struct {
	Client     kubernetes.Interface
	Nodes      []NodeSpec
	JobRunTime time.Duration

	owned map[string]bool
	pods  corelisters.PodLister
	queue workqueue.TypedRateLimitingInterface[cache.ObjectName]
}

// Run registers the nodes, then reports their pods until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	k.owned = map[string]bool{}
	for _, spec := range k.Nodes {
		if err := k.register(ctx, spec); err != nil {
			return err
		}
		k.owned[spec.Name] = true
	}
	go k.renewLeases(ctx)

	// Only pods already bound to a node: the scheduler's work is not ours to see.
	factory := informers.NewSharedInformerFactoryWithOptions(k.Client, 0,
		informers.WithTweakListOptions(func(options *metav1.ListOptions) {
			options.FieldSelector = fields.OneTermNotEqualSelector("spec.nodeName", "").String()
		}))
	informer := factory.Core().V1().Pods()
	k.pods = informer.Lister()
	k.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[cache.ObjectName]())
	defer k.queue.ShutDown()
	enqueue := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok && k.owned[pod.Spec.NodeName] {
			k.queue.Add(cache.MetaObjectToName(pod))
		}
	}
	_, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	for kind, synced := range factory.WaitForCacheSync(ctx.Done()) {
		if !synced {
			return fmt.Errorf("the %v cache never synced", kind)
		}
	}
	k.logf("%d nodes registered; reporting their pods", len(k.Nodes))
	for range workers {
		go k.work(ctx)
	}
	<-ctx.Done()
	return nil
}

func (k *Kubelet) work(ctx context.Context) {
	for {
		name, shutdown := k.queue.Get()
		if shutdown {
			return
		}
		after, err := k.sync(ctx, name)
		switch {
		case err != nil:
			utilruntime.HandleError(fmt.Errorf("pod %s: %w", name, err))
			k.queue.AddRateLimited(name)
		case after > 0:
			k.queue.Forget(name)
			k.queue.AddAfter(name, after)
		default:
			k.queue.Forget(name)
		}
		k.queue.Done(name)
	}
}

func (k *Kubelet) logf(format string, args ...any) {
	log.Printf("fake-kubelet: "+format, args...)
}
