package cluster_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func imagePolicy(name string, selector *metav1.LabelSelector) *v1alpha1.ImagePolicy {
	return &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), Generation: 1},
		Spec:       v1alpha1.ImagePolicySpec{NamespaceSelector: selector},
	}
}

func withPriority(p *v1alpha1.ImagePolicy, priority int32) *v1alpha1.ImagePolicy {
	p.Spec.Priority = priority
	return p
}

// invalid is a policy Compile refuses.
func invalid(name string, selector *metav1.LabelSelector) *v1alpha1.ImagePolicy {
	p := imagePolicy(name, selector)
	p.Spec.Actions = map[string]v1alpha1.Action{"NoSuchClass": v1alpha1.ActionDeny}
	return p
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	l := map[string]string{corev1.LabelMetadataName: name}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	teamA := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
	prod := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod"}},
	}}
	notProd := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"prod"}},
	}}
	byName := &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "fresh"}}
	namespaces := []client.Object{
		namespace("team-a", map[string]string{"team": "a", "env": "prod"}),
		namespace("team-b", map[string]string{"team": "b"}),
	}
	tests := []struct {
		name      string
		policies  []client.Object
		namespace string
		want      string
	}{
		{name: "no policies", namespace: "team-a", want: policies.BuiltInName},
		{name: "a catch-all", policies: []client.Object{imagePolicy("baseline", nil)}, namespace: "team-b", want: "baseline"},
		{name: "an empty selector is a catch-all", policies: []client.Object{imagePolicy("baseline", &metav1.LabelSelector{})}, namespace: "team-b", want: "baseline"},
		{name: "a selective policy beats a catch-all", namespace: "team-a", want: "zz-team-a",
			policies: []client.Object{imagePolicy("baseline", nil), imagePolicy("zz-team-a", teamA)}},
		{name: "the catch-all where the selective one does not apply", namespace: "team-b", want: "baseline",
			policies: []client.Object{imagePolicy("baseline", nil), imagePolicy("zz-team-a", teamA)}},
		{name: "catch-alls: first by name", namespace: "team-b", want: "a-baseline",
			policies: []client.Object{imagePolicy("b-baseline", nil), imagePolicy("a-baseline", nil)}},
		{name: "selective ones: first by name", namespace: "team-a", want: "prod",
			policies: []client.Object{imagePolicy("team-a", teamA), imagePolicy("prod", prod), imagePolicy("baseline", nil)}},
		{name: "NotIn selects namespaces without the label", namespace: "team-b", want: "not-prod",
			policies: []client.Object{imagePolicy("not-prod", notProd), imagePolicy("baseline", nil)}},
		{name: "an invalid policy is skipped", namespace: "team-a", want: "team-a",
			policies: []client.Object{invalid("00-broken", teamA), imagePolicy("team-a", teamA)}},
		{name: "an invalid selective policy falls back to the catch-all", namespace: "team-a", want: "baseline",
			policies: []client.Object{invalid("team-a", teamA), imagePolicy("baseline", nil)}},
		{name: "only invalid policies", namespace: "team-a", want: policies.BuiltInName,
			policies: []client.Object{invalid("broken", nil)}},
		{name: "no policy selects the namespace", namespace: "team-b", want: policies.BuiltInName,
			policies: []client.Object{imagePolicy("team-a", teamA)}},
		{name: "a namespace not cached yet has its name label", namespace: "fresh", want: "fresh",
			policies: []client.Object{imagePolicy("fresh", byName), imagePolicy("baseline", nil)}},
		{name: "the higher priority wins over a selective policy", namespace: "team-a", want: "z-baseline",
			policies: []client.Object{withPriority(imagePolicy("z-baseline", nil), 5), imagePolicy("a-team", teamA)}},
		{name: "an invalid policy of higher priority is skipped", namespace: "team-a", want: "team-a",
			policies: []client.Object{withPriority(invalid("broken", teamA), 100), imagePolicy("team-a", teamA)}},
		{name: "cluster-scoped objects: catch-alls apply", namespace: "", want: "baseline",
			policies: []client.Object{imagePolicy("baseline", nil), imagePolicy("team-a", teamA)}},
		{name: "cluster-scoped objects: NotIn applies", namespace: "", want: "not-prod",
			policies: []client.Object{imagePolicy("not-prod", notProd)}},
		{name: "cluster-scoped objects: selective ones do not", namespace: "", want: policies.BuiltInName,
			policies: []client.Object{imagePolicy("team-a", teamA)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := newView(t, fakeReader(append(append([]client.Object{}, namespaces...), tt.policies...)...), cluster.Options{})
			p, err := v.Policy(context.Background(), tt.namespace)
			if err != nil {
				t.Fatalf("Policy: %v", err)
			}
			if p.Name() != tt.want {
				t.Errorf("Policy(%q) = %q, want %q", tt.namespace, p.Name(), tt.want)
			}
		})
	}
}

// Compiled policies are memoised by UID and generation: a status update
// (same generation) reuses the compiled policy, a spec change recompiles.
func TestPolicyMemoisedByGeneration(t *testing.T) {
	t.Parallel()
	version := func(generation int64, mode v1alpha1.Mode) client.Reader {
		p := imagePolicy("baseline", nil)
		p.Generation, p.Spec.Mode = generation, mode
		return fakeReader(p)
	}
	reader := &swapReader{inner: version(1, v1alpha1.ModeEnforce)}
	v := newView(t, reader, cluster.Options{})
	mode := func() v1alpha1.Mode {
		p, err := v.Policy(context.Background(), "ns")
		if err != nil {
			t.Fatal(err)
		}
		return p.Mode()
	}
	var got []v1alpha1.Mode
	got = append(got, mode())
	reader.set(version(1, v1alpha1.ModeAudit))
	got = append(got, mode())
	reader.set(version(2, v1alpha1.ModeAudit))
	got = append(got, mode())
	want := []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeEnforce, v1alpha1.ModeAudit}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("modes over generations (-want +got):\n%s", diff)
	}
}
