package webhook

import (
	"context"

	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// ClusterView is what the handlers need to know about the cluster, served
// from the manager's informer caches (package internal/cluster). An
// interface, so handler tests can give literal answers.
type ClusterView interface {
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
	// Policy is the compiled ImagePolicy that applies to namespace, or
	// policies.Default() when none does.
	Policy(ctx context.Context, namespace string) (*policies.Policy, error)
}
