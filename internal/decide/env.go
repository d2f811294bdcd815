package decide

import (
	"context"
	"fmt"

	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// Cluster is what EnvFor reads about the cluster, served from the
// manager's informer caches (internal/cluster.View has it); every front
// door that judges pods in a cluster asks it.
type Cluster interface {
	// Credentials are those the kubelet would try to pull for a pod of
	// namespace: the pod's imagePullSecrets (or, when it names none, its
	// service account's), then what the nodes themselves hold (a mounted
	// docker config). Missing secrets are skipped, not errors; they are
	// named in Skipped so a 401 message can name them.
	Credentials(ctx context.Context, namespace string, pod *workload.PodContext) (resolve.Credentials, error)
	// Nodes are the Ready nodes the pod may be scheduled on: its
	// nodeSelector, required node affinity (all operators) and tolerations
	// of NoSchedule/NoExecute taints allow them. Empty when the cluster has
	// no nodes yet, which skips platform and node-image checks.
	Nodes(ctx context.Context, pod *workload.PodContext) ([]policies.Node, error)
}

// EnvFor asks c once per pod spec of uses for the credentials and the
// candidate nodes, so every front door (the webhook, background
// verification) builds the same Env for the same pods. An error is a
// failure of the cluster view, not of an image.
func EnvFor(ctx context.Context, c Cluster, namespace string, uses []workload.ImageUse, lookup resolve.Lookup) (Env, error) {
	creds := map[*workload.PodContext]resolve.Credentials{}
	nodes := map[*workload.PodContext][]policies.Node{}
	for _, u := range uses {
		if _, ok := nodes[u.Pod]; ok {
			continue
		}
		cr, err := c.Credentials(ctx, namespace, u.Pod)
		if err != nil {
			return Env{}, fmt.Errorf("reading pull credentials: %w", err)
		}
		ns, err := c.Nodes(ctx, u.Pod)
		if err != nil {
			return Env{}, fmt.Errorf("reading nodes: %w", err)
		}
		creds[u.Pod], nodes[u.Pod] = cr, ns
	}
	return Env{
		Lookup:      lookup,
		Credentials: func(pod *workload.PodContext) resolve.Credentials { return creds[pod] },
		Nodes:       func(pod *workload.PodContext) []policies.Node { return nodes[pod] },
	}, nil
}
