package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// TestValidateWarnsOnLowPullBudget: a registry that states (in Docker
// Hub's rate-limit headers) less of its pull budget left than the policy's
// pullBudgetWarningPercent gets a warning line, and the pod is admitted;
// above it, or with the warning off, there is none.
func TestValidateWarnsOnLowPullBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		remaining  int
		policy     string // spec lines; "" is the built-in policy (10%)
		wantWarned bool
	}{
		{"7 of 100 left, default 10%", 7, "", true},
		{"50 of 100 left", 50, "", false},
		{"7 of 100 left, 5%", 7, "  pullBudgetWarningPercent: 5\n", false},
		{"7 of 100 left, warning off", 7, "  pullBudgetWarningPercent: 0\n", false},
		{"30 of 100 left, 50%", 30, "  pullBudgetWarningPercent: 50\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t)
			reg.PushImage(t, "acme/api:v1", amd64)
			reg.SetPullBudget(100, tc.remaining)
			budgets := resolve.NewBudgets(nil)
			guard := addressguard.Config{AllowLoopback: true, InsecureRegistries: []string{reg.Host}}
			lookup := resolve.New(resolve.WithTransport(budgets.Transport(guard.Transport())), resolve.WithInsecureRegistries(reg.Host))
			view := &fakeView{}
			if tc.policy != "" {
				view.policy = mustPolicy(t, tc.policy)
			}
			h := NewHandlers(view, Options{
				ResolverFor: func(v1alpha1.Network) resolve.Lookup { return lookup },
				Budget:      5 * time.Second,
				PullBudgets: budgets.Get,
			})
			req := create(podKind, raw(t, podObject(reg.Ref("acme/api:v1"))))
			// The first admission learns the budget from the registry's
			// answer; the warning reads what it learnt.
			resp := h.Validator().Handle(context.Background(), req)
			a := answerOf(t, resp)
			warned := false
			for _, w := range a.Warnings {
				if strings.Contains(w, "pull budget") {
					warned = true
				}
			}
			if !a.Allowed || warned != tc.wantWarned {
				t.Errorf("allowed %t, warnings %q; want allowed, warned %t", a.Allowed, a.Warnings, tc.wantWarned)
			}
		})
	}
}
