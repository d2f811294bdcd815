package decide

import (
	"context"
	"fmt"

	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// Cluster is what SettingFor reads about the cluster, served from the
// manager's informer caches (internal/cluster.View has it); every front
// door that decides on pods in a cluster asks it.
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

// SettingFor asks c once per pod spec of uses for the credentials and the
// candidate nodes, so every front door (the webhook, background
// verification, check, diagnose) builds the same Setting for the same
// pods. An error is a failure of the cluster view, not of an image.
func SettingFor(ctx context.Context, c Cluster, namespace string, uses []workload.ImageUse, lookup resolve.Lookup) (Setting, error) {
	pods := map[*workload.PodContext]Pod{}
	for _, u := range uses {
		if _, ok := pods[u.Pod]; ok {
			continue
		}
		creds, err := c.Credentials(ctx, namespace, u.Pod)
		if err != nil {
			return Setting{}, fmt.Errorf("reading pull credentials: %w", err)
		}
		nodes, err := c.Nodes(ctx, u.Pod)
		if err != nil {
			return Setting{}, fmt.Errorf("reading nodes: %w", err)
		}
		pods[u.Pod] = Pod{Credentials: creds, Nodes: nodes}
	}
	return Setting{Lookup: lookup, Pods: pods}, nil
}
