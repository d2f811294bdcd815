package policies

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/image"
)

// holding is a node of amd64 that lists these image names.
func holding(name string, names ...string) Node {
	n := Node{Name: name, Platform: amd64, ImagesKnown: true}
	for _, s := range names {
		n.Images = append(n.Images, corev1.ContainerImage{Names: []string{s}})
	}
	return n
}

// full is a node at the kubelet's limit of 50 listed images, none of them ours.
func full(name string) Node {
	n := Node{Name: name, Platform: amd64, ImagesKnown: true}
	for i := range statusMaxImages {
		n.Images = append(n.Images, corev1.ContainerImage{Names: []string{fmt.Sprintf("ghcr.io/other/img:%d", i)}})
	}
	return n
}

func TestPullPolicyAndNodeImages(t *testing.T) {
	t.Parallel()
	const api = "ghcr.io/acme/api:v1"
	digest := testDigest.String()
	byDigest := "ghcr.io/acme/api@" + digest
	tests := []struct {
		name   string
		result Result
		policy image.PullPolicy
		nodes  []Node
		want   []string // "class action", in order
		says   string   // in the first finding's message
	}{{
		name: "Never, no candidate node holds it", result: failed(t, api, image.NotFound), policy: image.PullNever,
		nodes: []Node{holding("a"), holding("b", "ghcr.io/acme/api:v2")},
		want:  []string{"NotFound Deny"}, says: "ErrImageNeverPull",
	}, {
		name: "Never, listed nowhere, but its registry has it: the listing may lag", result: use(t, api), policy: image.PullNever,
		nodes: []Node{holding("a")},
		want:  []string{"NotFound Warn"}, says: "its registry has it",
	}, {
		name: "Never, some hold it", result: failed(t, api, image.NotFound), policy: image.PullNever,
		nodes: []Node{holding("a", api), holding("b")},
		want:  []string{"NotFound Warn"}, says: "nodes holding it: a",
	}, {
		name: "Never, every node holds it: no registry verdict", result: failed(t, api, image.Unreachable), policy: image.PullNever,
		nodes: []Node{holding("a", api), holding("b", "x", api)},
	}, {
		name: "Never, what the nodes hold is unknown (pullguard check)", result: use(t, api), policy: image.PullNever,
		nodes: []Node{{Name: "linux/amd64", Platform: amd64}},
	}, {
		name: "Never, one node lacks it and one lists 50 images: maybe there", result: use(t, api), policy: image.PullNever,
		nodes: []Node{holding("a"), full("b")},
		want:  []string{"NotFound Warn"},
	}, {
		name: "IfNotPresent, tag deleted upstream, every node holds it", result: failed(t, api, image.NotFound), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", api), holding("b", api)},
	}, {
		name: "IfNotPresent, rate limited, every node holds it", result: failed(t, api, image.RateLimited), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", api)},
	}, {
		name: "IfNotPresent, tag deleted upstream, one node of two holds it", result: failed(t, api, image.NotFound), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", api), holding("b")},
		want:  []string{"NotFound Deny"}, says: "1 of 2 nodes the pod can run on hold it (a)",
	}, {
		name: "IfNotPresent, unauthorized: the kubelet re-checks credentials", result: failed(t, api, image.Unauthorized), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", api)},
		want:  []string{"Unauthorized Deny"}, says: "KubeletEnsureSecretPulledImages",
	}, {
		name: "Always pulls whatever the nodes hold", result: failed(t, api, image.NotFound), policy: image.PullAlways,
		nodes: []Node{holding("a", api)},
		want:  []string{"NotFound Deny"},
	}, {
		name: "IfNotPresent by digest, the node lists the digest", result: failed(t, byDigest, image.NotFound), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", byDigest)},
	}, {
		name: "tag and digest: the runtime looks the digest up, not the tag", result: failed(t, "ghcr.io/acme/api:v1@"+digest, image.NotFound), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", api)},
		want:  []string{"NotFound Deny"},
	}, {
		name: "IfNotPresent, cached everywhere: the registry's platforms do not matter", result: use(t, api, arm64), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a", api)},
	}, {
		name: "IfNotPresent, not cached: platforms are checked", result: use(t, api, arm64), policy: image.PullIfNotPresent,
		nodes: []Node{holding("a")},
		want:  []string{"PlatformMismatch Deny"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tt.result
			r.PullPolicy, r.Nodes = tt.policy, tt.nodes
			d := Default().Evaluate(Input{Object: podObject, Results: []Result{r}})
			var got []string
			for _, f := range d.Findings {
				got = append(got, string(f.Class)+" "+string(f.Action))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if tt.says != "" && len(d.Findings) > 0 && !strings.Contains(d.Findings[0].Message, tt.says) {
				t.Errorf("message %q does not say %q", d.Findings[0].Message, tt.says)
			}
			// The warning line of Never speaks of the nodes, never of the
			// registry the kubelet does not ask.
			for _, f := range d.Findings {
				if tt.policy == image.PullNever && !strings.Contains(f.Short(), "pull policy Never") {
					t.Errorf("warning %q does not say pull policy Never", f.Short())
				}
			}
		})
	}
}
