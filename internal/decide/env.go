package decide

import (
	"context"
	"fmt"

	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// Cluster is what EnvFor reads about the cluster (internal/cluster.View
// has it): the credentials the kubelet would try for a pod, and the nodes
// it may land on.
type Cluster interface {
	Credentials(ctx context.Context, namespace string, pod *workload.PodContext) (resolve.Credentials, error)
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
