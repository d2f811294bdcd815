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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func scheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
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
		Message: "the policy is valid and in use", ObservedGeneration: generation, LastTransitionTime: past,
	}
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
			obj:             policy(2, v1alpha1.ModeAudit, ready(2)),
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
			if len(got.Status.Conditions) != 1 {
				t.Fatalf("conditions = %+v, want exactly Ready", got.Status.Conditions)
			}
			cond := got.Status.Conditions[0]
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
