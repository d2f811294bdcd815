package decide

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// recordingLookup answers from a table and records what it was asked.
type recordingLookup struct {
	mu      sync.Mutex
	asked   []string
	mirrors [][]image.Mirror
	creds   []resolve.Credentials
	answers map[string]image.Facts // by Reference.Original; missing → NotFound
}

func (l *recordingLookup) Resolve(_ context.Context, req resolve.Request) (image.Facts, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.asked = append(l.asked, req.Ref.Original)
	l.mirrors = append(l.mirrors, req.Mirrors)
	l.creds = append(l.creds, req.Credentials)
	if f, ok := l.answers[req.Ref.Original]; ok {
		return f, nil
	}
	return image.Facts{}, &image.Error{Class: image.NotFound, Image: req.Ref.Original, Registry: req.Ref.Registry, StatusCode: 404}
}

// namedCreds is a credential set with a name; only its identity matters here.
type namedCreds struct {
	resolve.Credentials
	name string
}

func (c namedCreds) Skipped() []string { return []string{c.name} }

func TestDecide(t *testing.T) {
	t.Parallel()
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	good := image.Facts{Digest: v1.Hash{Algorithm: "sha256", Hex: "0123456789012345678901234567890123456789012345678901234567890123"}, Platforms: []v1.Platform{amd64}}
	strict, err := policies.Load([]byte(`apiVersion: pullguard.io/v1alpha1
kind: ImagePolicy
metadata: {name: strict}
spec:
  exemptImages: ["registry.k8s.io/*"]
  allowedRegistries: ["ghcr.io", "registry.k8s.io"]
  mirrors: [{from: ghcr.io, to: mirror.example.com/ghcr}]
`))
	if err != nil {
		t.Fatal(err)
	}
	pod := &workload.PodContext{SpecPointer: "/spec", ImagePullSecrets: []string{"regcred"}}
	use := func(i int, img string) workload.ImageUse {
		return workload.ImageUse{Container: "c" + string(rune('0'+i)), Kind: workload.Container, Image: img, Pointer: "/spec/containers/" + string(rune('0'+i)) + "/image", Pod: pod}
	}
	tests := []struct {
		name      string
		policy    *policies.Policy
		images    []string
		wantAsked []string
		want      []string // "container class action"
		wantAllow bool
	}{{
		name:      "resolvable image passes and is asked once",
		policy:    policies.Default(),
		images:    []string{"ghcr.io/acme/api:v1"},
		wantAsked: []string{"ghcr.io/acme/api:v1"},
		wantAllow: true,
	}, {
		name:      "unparsable and missing",
		policy:    policies.Default(),
		images:    []string{"ghcr.io/Acme/API:v1", "ghcr.io/acme/gone:v1"},
		wantAsked: []string{"ghcr.io/acme/gone:v1"},
		want:      []string{"c0 InvalidReference Deny", "c1 NotFound Deny"},
	}, {
		name:      "exempt and disallowed images are not asked",
		policy:    strict,
		images:    []string{"registry.k8s.io/pause:3.10", "quay.io/acme/tool:v1", "ghcr.io/acme/api:v1"},
		wantAsked: []string{"ghcr.io/acme/api:v1"},
		want:      []string{"c1 RegistryNotAllowed Deny"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := &recordingLookup{answers: map[string]image.Facts{"ghcr.io/acme/api:v1": good}}
			var uses []workload.ImageUse
			for i, img := range tt.images {
				uses = append(uses, use(i, img))
			}
			creds := namedCreds{name: "secret ns/regcred"}
			c := &recordingCluster{creds: creds, nodes: []policies.Node{{Name: "n", Platform: amd64}}}
			setting, err := SettingFor(context.Background(), c, "ns", uses, l)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.credsFor) != 1 || len(c.nodesFor) != 1 {
				t.Errorf("SettingFor asked credentials %d times and nodes %d times for one pod spec, want once each", len(c.credsFor), len(c.nodesFor))
			}
			credsFor := c.credsFor
			d := Decide(context.Background(), tt.policy, workload.Object{Kind: "Pod", Namespace: "ns", Name: "p"}, uses, setting)
			sort.Strings(l.asked)
			if diff := cmp.Diff(tt.wantAsked, l.asked); diff != "" {
				t.Errorf("lookups (-want +got):\n%s", diff)
			}
			var got []string
			for _, f := range d.Findings {
				got = append(got, f.Container+" "+string(f.Class)+" "+string(f.Action))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if d.Allowed != tt.wantAllow {
				t.Errorf("Allowed = %v, want %v", d.Allowed, tt.wantAllow)
			}
			for i, c := range l.creds {
				if c != resolve.Credentials(creds) {
					t.Errorf("lookup %d got credentials %v, want the pod's", i, c)
				}
				if diff := cmp.Diff(tt.policy.Mirrors(), l.mirrors[i]); diff != "" {
					t.Errorf("lookup %d mirrors (-want +got):\n%s", i, diff)
				}
			}
			for _, p := range credsFor {
				if p != pod {
					t.Errorf("credentials asked for pod context %p, want %p", p, pod)
				}
			}
		})
	}
}

// Decide never blocks past its context: a lookup that hangs becomes
// Unreachable, decided by the policy (a warning by default).
func TestDecideDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hang := lookupFunc(func(ctx context.Context, req resolve.Request) (image.Facts, error) {
		<-ctx.Done()
		return image.Facts{}, ctx.Err()
	})
	d := Decide(ctx, policies.Default(), workload.Object{Kind: "Pod", Name: "p"}, []workload.ImageUse{{Container: "c", Image: "ghcr.io/acme/api:v1", Pod: &workload.PodContext{}}}, Setting{Lookup: hang})
	if len(d.Findings) != 1 || d.Findings[0].Class != image.Unreachable || d.Findings[0].Action != policies.Warn || !d.Allowed {
		t.Errorf("want one Unreachable warning and the object allowed, got %+v", d)
	}
}

// recordingCluster is a Cluster with one answer for every pod; it records
// the pods it was asked about.
type recordingCluster struct {
	creds              resolve.Credentials
	nodes              []policies.Node
	credsFor, nodesFor []*workload.PodContext
}

func (c *recordingCluster) Credentials(_ context.Context, _ string, pod *workload.PodContext) (resolve.Credentials, error) {
	c.credsFor = append(c.credsFor, pod)
	return c.creds, nil
}

func (c *recordingCluster) Nodes(_ context.Context, pod *workload.PodContext) ([]policies.Node, error) {
	c.nodesFor = append(c.nodesFor, pod)
	return c.nodes, nil
}

type lookupFunc func(context.Context, resolve.Request) (image.Facts, error)

func (f lookupFunc) Resolve(ctx context.Context, req resolve.Request) (image.Facts, error) {
	return f(ctx, req)
}
