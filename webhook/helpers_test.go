package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

var (
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
	// nodes are the platforms of the cluster's nodes.
	nodes = []v1.Platform{amd64, arm64}
)

// fakeView answers from its fields. panics makes Policy panic, to test
// that a handler answers anyway.
type fakeView struct {
	policy    *policies.Policy
	creds     resolve.Credentials
	platforms []v1.Platform
	err       error
	panics    bool
}

func (v *fakeView) Credentials(context.Context, string, *workload.PodContext) (resolve.Credentials, error) {
	return v.creds, v.err
}

// Nodes are one node per platform, holding nothing known.
func (v *fakeView) Nodes(context.Context, *workload.PodContext) ([]policies.Node, error) {
	var out []policies.Node
	for _, p := range v.platforms {
		out = append(out, policies.Node{Name: p.OS + "-" + p.Architecture, Platform: p})
	}
	return out, v.err
}

func (v *fakeView) Policy(context.Context, string) (*policies.Policy, error) {
	if v.panics {
		panic("cluster view broke")
	}
	if v.policy == nil {
		return policies.Default(), v.err
	}
	return v.policy, v.err
}

// lookupFor is a real resolver for registries on loopback, reached over
// plain HTTP as the in-process registry serves.
func lookupFor(hosts ...string) resolve.Lookup {
	guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: hosts}
	return resolve.New(resolve.WithTransport(guard.Transport()), resolve.WithInsecureRegistries(hosts...))
}

// handlersFor are handlers over view resolving with lookup.
func handlersFor(view ClusterView, lookup resolve.Lookup, rec Recorder) *Handlers {
	return NewHandlers(view, Options{
		ResolverFor: func(v1alpha1.Network) resolve.Lookup { return lookup },
		Budget:      5 * time.Second,
		Recorder:    rec,
	})
}

// fixture is a registry with the images the tests name.
type fixture struct {
	reg     *registrytest.Registry
	lookup  resolve.Lookup
	good    string // a multi-platform (amd64, arm64) image
	amdOnly string // an amd64-only image
	missing string // a tag that does not exist
	latest  string // an existing image tagged latest
	// digest, latestDigest and amdDigest are those of good, latest and amdOnly.
	digest, latestDigest, amdDigest v1.Hash
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	reg := registrytest.New(t)
	f := &fixture{
		reg:     reg,
		lookup:  lookupFor(reg.Host),
		good:    reg.Ref("acme/api:v1"),
		amdOnly: reg.Ref("acme/amd:v1"),
		missing: reg.Ref("acme/api:v9"),
		latest:  reg.Ref("acme/api:latest"),
	}
	f.digest = reg.PushIndex(t, "acme/api:v1", amd64, arm64)
	f.latestDigest = reg.PushIndex(t, "acme/api:latest", amd64, arm64)
	f.amdDigest = reg.PushImage(t, "acme/amd:v1", amd64)
	return f
}

func mustPolicy(t testing.TB, spec string) *policies.Policy {
	t.Helper()
	p, err := policies.Load([]byte("apiVersion: pullguard.io/v1alpha1\nkind: ImagePolicy\nmetadata: {name: test}\nspec:\n" + spec))
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return p
}

func containers(images ...string) []corev1.Container {
	var cs []corev1.Container
	for i, img := range images {
		cs = append(cs, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	return cs
}

func podSpec(images ...string) corev1.PodSpec {
	return corev1.PodSpec{Containers: containers(images...)}
}

func podObject(images ...string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec:       podSpec(images...),
	}
}

func template(images ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: podSpec(images...)}
}

func deployment(images ...string) *appsv1.Deployment {
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "team-a"},
		Spec:       appsv1.DeploymentSpec{Template: template(images...)},
	}
}

func cronJob(images ...string) *batchv1.CronJob {
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "team-a"},
		Spec: batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: template(images...)},
		}},
	}
}

func raw(t testing.TB, obj any) []byte {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gvk is the request Kind of a resource.
func gvk(group, version, kind string) metav1.GroupVersionKind {
	return metav1.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

var podKind = gvk("", "v1", "Pod")

// create is a CREATE request for an object of kind k in namespace team-a.
func create(k metav1.GroupVersionKind, object []byte) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      k,
		Namespace: "team-a",
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: object},
	}}
}

// update is an UPDATE request from old to object.
func update(k metav1.GroupVersionKind, subresource string, old, object []byte) admission.Request {
	req := create(k, object)
	req.Operation = admissionv1.Update
	req.SubResource = subresource
	req.OldObject = runtime.RawExtension{Raw: old}
	return req
}

// recorder counts what the handlers record.
type recorder struct {
	mu         sync.Mutex
	admissions []string
	findings   []string
}

func (r *recorder) Admission(kind, endpoint string, allowed bool, reason string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	answer := "denied"
	if allowed {
		answer = "allowed"
	}
	r.admissions = append(r.admissions, kind+" "+endpoint+" "+answer+" "+reason)
}

func (r *recorder) Finding(c image.Class, a policies.Action) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.findings = append(r.findings, string(c)+" "+string(a))
}
