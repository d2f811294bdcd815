package policystatus

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

var past = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func policy(generation int64, mode v1alpha1.Mode, conds ...metav1.Condition) *v1alpha1.ImagePolicy {
	return &v1alpha1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "default", Generation: generation},
		Spec:       v1alpha1.ImagePolicySpec{Mode: mode},
		Status:     v1alpha1.ImagePolicyStatus{Conditions: conds},
	}
}

func ready(generation int64) metav1.Condition {
	return metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonValid,
		Message: "the policy is valid", ObservedGeneration: generation, LastTransitionTime: past,
	}
}

// upToDate are the conditions of a valid policy, generation generation, in
// a cluster without namespaces.
func upToDate(generation int64) []metav1.Condition {
	inUse, shadowed := policies.UsageConditions(policy(generation, ""), &policies.Usage{})
	inUse.LastTransitionTime, shadowed.LastTransitionTime = past, past
	return []metav1.Condition{ready(generation), inUse, shadowed}
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		obj        *v1alpha1.ImagePolicy // nil: no such policy
		wantWrites int32
		want       metav1.Condition // compared without LastTransitionTime
		// wantMessage is a substring of the message (the field errors).
		wantMessage string
		// keepsTransition: the status did not flip, so the time stays.
		keepsTransition bool
	}{
		{
			name:       "new valid policy becomes Ready",
			obj:        policy(1, v1alpha1.ModeEnforce),
			wantWrites: 1,
			want:       metav1.Condition{Type: "Ready", Status: "True", Reason: "Valid", ObservedGeneration: 1},
		},
		{
			name:        "invalid policy is not Ready, with its field errors",
			obj:         policy(1, "Bogus"),
			wantWrites:  1,
			want:        metav1.Condition{Type: "Ready", Status: "False", Reason: "Invalid", ObservedGeneration: 1},
			wantMessage: "spec.mode",
		},
		{
			name:            "up to date: nothing written",
			obj:             policy(2, v1alpha1.ModeAudit, upToDate(2)...),
			wantWrites:      0,
			want:            metav1.Condition{Type: "Ready", Status: "True", Reason: "Valid", ObservedGeneration: 2},
			keepsTransition: true,
		},
		{
			name:            "new generation, still valid: observedGeneration moves, transition time stays",
			obj:             policy(3, v1alpha1.ModeAudit, ready(2)),
			wantWrites:      1,
			want:            metav1.Condition{Type: "Ready", Status: "True", Reason: "Valid", ObservedGeneration: 3},
			keepsTransition: true,
		},
		{
			name:        "valid policy edited into an invalid one",
			obj:         policy(4, "Bogus", ready(3)),
			wantWrites:  1,
			want:        metav1.Condition{Type: "Ready", Status: "False", Reason: "Invalid", ObservedGeneration: 4},
			wantMessage: "spec.mode",
		},
		{
			name:       "deleted policy: nothing to do",
			obj:        nil,
			wantWrites: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var writes atomic.Int32
			b := fake.NewClientBuilder().WithScheme(scheme(t)).
				WithStatusSubresource(&v1alpha1.ImagePolicy{}).
				WithInterceptorFuncs(interceptor.Funcs{
					SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
						writes.Add(1)
						return c.SubResource(sub).Update(ctx, obj, opts...)
					},
				})
			if tt.obj != nil {
				b = b.WithObjects(tt.obj)
			}
			c := b.Build()
			r := &Reconciler{Client: c}
			ctx := context.Background()
			key := types.NamespacedName{Name: "default"}
			if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			if got := writes.Load(); got != tt.wantWrites {
				t.Errorf("status writes = %d, want %d", got, tt.wantWrites)
			}
			if tt.obj == nil {
				return
			}
			var got v1alpha1.ImagePolicy
			if err := c.Get(ctx, key, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Status.Conditions) != 3 {
				t.Fatalf("conditions = %+v, want Ready, InUse and Shadowed", got.Status.Conditions)
			}
			cond := *meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if diff := cmp.Diff(tt.want, cond, cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "Message")); diff != "" {
				t.Errorf("Ready condition (-want +got):\n%s", diff)
			}
			if !strings.Contains(cond.Message, tt.wantMessage) {
				t.Errorf("message %q does not name %q", cond.Message, tt.wantMessage)
			}
			if kept := cond.LastTransitionTime.Equal(&past); kept != tt.keepsTransition {
				t.Errorf("lastTransitionTime %v kept = %v, want %v", cond.LastTransitionTime, kept, tt.keepsTransition)
			}
			// Reconciling again finds nothing to change.
			before := writes.Load()
			if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: key}); err != nil {
				t.Fatalf("second Reconcile: %v", err)
			}
			if after := writes.Load(); after != before {
				t.Errorf("second Reconcile wrote status %d more times, want 0", after-before)
			}
		})
	}
}

func TestReconcileWriteError(t *testing.T) {
	t.Parallel()
	refused := errors.New("etcd is on fire")
	c := fake.NewClientBuilder().WithScheme(scheme(t)).
		WithStatusSubresource(&v1alpha1.ImagePolicy{}).
		WithObjects(policy(1, v1alpha1.ModeEnforce)).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourceUpdate: func(context.Context, client.Client, string, client.Object, ...client.SubResourceUpdateOption) error {
				return refused
			},
		}).Build()
	r := &Reconciler{Client: c}
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Name: "default"}})
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), `"default"`) {
		t.Errorf("Reconcile = %v, want the write error, naming the policy", err)
	}
}

func selecting(name string, priority int32, labels map[string]string) *v1alpha1.ImagePolicy {
	p := &v1alpha1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: name, Generation: 1}}
	p.Spec.Priority = priority
	if labels != nil {
		p.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: labels}
	}
	return p
}

// summary is what a user reads of one policy's status.
type summary struct {
	Ready, InUse, Shadowed string
	Count                  int32
	Namespaces             []string
	ShadowedBy             []v1alpha1.Shadowing
}

func summarize(st v1alpha1.ImagePolicyStatus) summary {
	status := func(t string) string {
		if c := meta.FindStatusCondition(st.Conditions, t); c != nil {
			return string(c.Status) + "/" + c.Reason
		}
		return ""
	}
	return summary{
		Ready: status(v1alpha1.ConditionReady), InUse: status(v1alpha1.ConditionInUse), Shadowed: status(v1alpha1.ConditionShadowed),
		Count: st.NamespaceCount, Namespaces: st.Namespaces, ShadowedBy: st.ShadowedBy,
	}
}

// Each policy's status says where it is in use and which policy shadows it,
// and an invalid or shadowed policy gets one Warning Event per change, not
// one per reconcile.
func TestReconcileUsageAndEvents(t *testing.T) {
	t.Parallel()
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	broken := selecting("broken", 0, nil)
	broken.Spec.Mode = "Bogus"
	c := fake.NewClientBuilder().WithScheme(scheme(t)).
		WithStatusSubresource(&v1alpha1.ImagePolicy{}).
		WithObjects(
			selecting("baseline", 0, nil),
			selecting("team-a", 0, map[string]string{"team": "a"}),
			selecting("prod", 10, map[string]string{"env": "prod"}),
			selecting("nobody", 0, map[string]string{"team": "z"}),
			broken,
			ns("shop", map[string]string{"team": "a", "env": "prod"}),
			ns("billing", map[string]string{"team": "a"}),
			ns("sandbox", nil),
		).Build()
	rec := events.NewFakeRecorder(20)
	r := &Reconciler{Client: c, Recorder: rec}
	ctx := context.Background()
	reconcileAll := func() {
		t.Helper()
		for _, req := range r.allPolicies(ctx, nil) {
			if _, err := r.Reconcile(ctx, req); err != nil {
				t.Fatalf("Reconcile %s: %v", req.Name, err)
			}
		}
	}
	statuses := func() map[string]summary {
		t.Helper()
		var list v1alpha1.ImagePolicyList
		if err := c.List(ctx, &list); err != nil {
			t.Fatal(err)
		}
		out := map[string]summary{}
		for _, p := range list.Items {
			out[p.Name] = summarize(p.Status)
		}
		return out
	}
	drain := func() []string {
		var out []string
		for {
			select {
			case e := <-rec.Events:
				out = append(out, e)
			default:
				return out
			}
		}
	}

	reconcileAll()
	want := map[string]summary{
		"prod": {Ready: "True/Valid", InUse: "True/Applies", Shadowed: "False/NotShadowed", Count: 1, Namespaces: []string{"shop"}},
		"team-a": {Ready: "True/Valid", InUse: "True/Applies", Shadowed: "True/ShadowedBy", Count: 1, Namespaces: []string{"billing"},
			ShadowedBy: []v1alpha1.Shadowing{{Policy: "prod", NamespaceCount: 1}}},
		"baseline": {Ready: "True/Valid", InUse: "True/Applies", Shadowed: "True/ShadowedBy", Count: 1, Namespaces: []string{"sandbox"},
			ShadowedBy: []v1alpha1.Shadowing{{Policy: "prod", NamespaceCount: 1}, {Policy: "team-a", NamespaceCount: 1}}},
		"nobody": {Ready: "True/Valid", InUse: "False/NoNamespaces", Shadowed: "False/NotShadowed"},
		"broken": {Ready: "False/Invalid", InUse: "False/Invalid", Shadowed: "False/Invalid"},
	}
	if diff := cmp.Diff(want, statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	got := drain()
	wantEvents := []string{
		`Warning Shadowed policy "prod" (priority 10 > 0) decides 1 namespace it selects: shop; policy "team-a" (same priority 0, and it has a namespaceSelector) decides 1 namespace it selects: billing; raise spec.priority to take them`,
		`Warning InvalidPolicy pullguard skips this policy: spec.mode: Unsupported value: "Bogus": supported values: "Enforce", "Audit"`,
		`Warning Shadowed policy "prod" (priority 10 > 0) decides 1 namespace it selects: shop; raise spec.priority to take them`,
	}
	if diff := cmp.Diff(wantEvents, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// Nothing changed: no writes, no events.
	reconcileAll()
	if got := drain(); len(got) != 0 {
		t.Errorf("a second reconcile recorded %q, want nothing", got)
	}

	// prod goes: team-a is no longer shadowed (no event); baseline is
	// shadowed by team-a alone now, a change worth one event.
	if err := c.Delete(ctx, selecting("prod", 0, nil)); err != nil {
		t.Fatal(err)
	}
	reconcileAll()
	st := statuses()
	if diff := cmp.Diff(summary{Ready: "True/Valid", InUse: "True/Applies", Shadowed: "False/NotShadowed", Count: 2, Namespaces: []string{"billing", "shop"}}, st["team-a"]); diff != "" {
		t.Errorf("team-a after prod is deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`Warning Shadowed policy "team-a" (same priority 0, and it has a namespaceSelector) decides 2 namespaces it selects: billing, shop; raise spec.priority to take them`}, drain()); diff != "" {
		t.Errorf("events after prod is deleted (-want +got):\n%s", diff)
	}
}
