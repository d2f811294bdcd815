package webhook

import (
	"context"

	"github.com/pullguard/pullguard/internal/decide"
	"github.com/pullguard/pullguard/policies"
)

// ClusterView is what the handlers need to know about the cluster, served
// from the manager's informer caches (package internal/cluster). An
// interface, so handler tests can give literal answers.
type ClusterView interface {
	// decide.Cluster gives the credentials and candidate nodes of a pod.
	decide.Cluster
	// Policy is the compiled ImagePolicy that applies to namespace, or
	// policies.Default() when none does.
	Policy(ctx context.Context, namespace string) (*policies.Policy, error)
}
