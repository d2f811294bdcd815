package policies

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// ranked compiles a policy with a priority and, when key is not empty, a
// namespaceSelector matching label key=value.
func ranked(t *testing.T, name string, priority int32, key, value string) *Policy {
	t.Helper()
	obj := &v1alpha1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	obj.Spec.Priority = priority
	if key != "" {
		obj.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{key: value}}
	}
	p, err := Compile(obj)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSetFor(t *testing.T) {
	t.Parallel()
	teamA := map[string]string{"team": "a", "env": "prod"}
	tests := []struct {
		name     string
		policies func(t *testing.T) []*Policy
		labels   map[string]string
		want     string
	}{
		{"no policies: the built-in default", func(*testing.T) []*Policy { return nil }, teamA, BuiltInName},
		{"none selects the namespace", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "team-b", 0, "team", "b")}
		}, teamA, BuiltInName},
		{"the higher priority wins", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "a-team", 0, "team", "a"), ranked(t, "z-prod", 10, "env", "prod")}
		}, teamA, "z-prod"},
		{"a negative priority loses to the default 0", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "a-team", -5, "team", "a"), ranked(t, "z-prod", 0, "env", "prod")}
		}, teamA, "z-prod"},
		{"a catch-all with a higher priority beats a selective policy", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "team-a", 0, "team", "a"), ranked(t, "zz-baseline", 1, "", "")}
		}, teamA, "zz-baseline"},
		{"equal priority: a selective policy beats a catch-all", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "a-baseline", 0, "", ""), ranked(t, "z-team-a", 0, "team", "a")}
		}, teamA, "z-team-a"},
		{"equal priority, both selective: first by name", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "team-a", 3, "team", "a"), ranked(t, "prod", 3, "env", "prod")}
		}, teamA, "prod"},
		{"equal priority, both catch-alls: first by name", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "b-baseline", 0, "", ""), ranked(t, "a-baseline", 0, "", "")}
		}, teamA, "a-baseline"},
		{"a higher priority that does not select the namespace is passed over", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "team-b", 100, "team", "b"), ranked(t, "baseline", 0, "", "")}
		}, teamA, "baseline"},
		{"cluster-scoped objects: only catch-alls", func(t *testing.T) []*Policy {
			return []*Policy{ranked(t, "team-a", 100, "team", "a"), ranked(t, "baseline", 0, "", "")}
		}, nil, "baseline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := tt.policies(t)
			if got := NewSet(ps).For(tt.labels).Name(); got != tt.want {
				t.Errorf("For = %q, want %q", got, tt.want)
			}
			// The order the policies are listed in never matters.
			for i, j := 0, len(ps)-1; i < j; i, j = i+1, j-1 {
				ps[i], ps[j] = ps[j], ps[i]
			}
			if got := NewSet(ps).For(tt.labels).Name(); got != tt.want {
				t.Errorf("For (reversed input) = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSetUsage(t *testing.T) {
	t.Parallel()
	namespaces := []Namespace{
		{Name: "shop", Labels: map[string]string{"team": "a", "env": "prod"}},
		{Name: "billing", Labels: map[string]string{"team": "a"}},
		{Name: "edge", Labels: map[string]string{"team": "b", "env": "prod"}},
		{Name: "sandbox", Labels: map[string]string{}},
	}
	set := NewSet([]*Policy{
		ranked(t, "baseline", 0, "", ""),
		ranked(t, "team-a", 0, "team", "a"),
		ranked(t, "prod", 10, "env", "prod"),
		ranked(t, "nobody", 0, "team", "z"),
	})
	tests := []struct {
		policy string
		want   *Usage
	}{
		{"prod", &Usage{Selected: 2, Namespaces: []string{"edge", "shop"}}},
		{"team-a", &Usage{Selected: 2, Namespaces: []string{"billing"}, ShadowedBy: []Shadowing{
			{Policy: "prod", Reason: "priority 10 > 0", Namespaces: []string{"shop"}},
		}}},
		{"baseline", &Usage{Selected: 4, Namespaces: []string{"sandbox"}, ShadowedBy: []Shadowing{
			{Policy: "prod", Reason: "priority 10 > 0", Namespaces: []string{"edge", "shop"}},
			{Policy: "team-a", Reason: "same priority 0, and it has a namespaceSelector", Namespaces: []string{"billing"}},
		}}},
		{"nobody", &Usage{}},
		{"no-such-policy", nil},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, set.Usage(tt.policy, namespaces)); diff != "" {
				t.Errorf("Usage(%q) (-want +got):\n%s", tt.policy, diff)
			}
		})
	}
}

func TestUsageConditions(t *testing.T) {
	t.Parallel()
	obj := &v1alpha1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "team-a", Generation: 3}}
	many := make([]string, 25)
	for i := range many {
		many[i] = "ns-" + string(rune('a'+i))
	}
	tests := []struct {
		name                      string
		usage                     *Usage
		inUse, shadowed           metav1.ConditionStatus
		inUseReason, shadowReason string
		inUseWords, shadowedWords []string
	}{
		{"in use everywhere it selects", &Usage{Selected: 1, Namespaces: []string{"billing"}},
			"True", "False", "Applies", "NotShadowed", []string{"decides 1 namespace: billing"}, nil},
		{"in use, shadowed in part", &Usage{Selected: 2, Namespaces: []string{"billing"},
			ShadowedBy: []Shadowing{{Policy: "prod", Reason: "priority 10 > 0", Namespaces: []string{"shop"}}}},
			"True", "True", "Applies", "ShadowedBy", []string{"billing"}, []string{`policy "prod" (priority 10 > 0) decides 1 namespace it selects: shop`, "spec.priority"}},
		{"shadowed everywhere", &Usage{Selected: 1,
			ShadowedBy: []Shadowing{{Policy: "prod", Reason: "priority 10 > 0", Namespaces: []string{"shop"}}}},
			"False", "True", "ShadowedBy", "ShadowedBy", []string{"every namespace it selects (1)"}, []string{`"prod"`}},
		{"selects nothing", &Usage{}, "False", "False", "NoNamespaces", "NotShadowed", []string{"selects no namespace"}, nil},
		{"invalid", nil, "False", "False", "Invalid", "Invalid", []string{"invalid", "Ready"}, nil},
		{"a long list is cut", &Usage{Selected: 25, Namespaces: many}, "True", "False", "Applies", "NotShadowed",
			[]string{"decides 25 namespaces: ns-a, ", "ns-j and 15 more"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in, sh := UsageConditions(obj, tt.usage)
			if in.Type != v1alpha1.ConditionInUse || sh.Type != v1alpha1.ConditionShadowed || in.ObservedGeneration != 3 || sh.ObservedGeneration != 3 {
				t.Errorf("types/generations: %+v %+v", in, sh)
			}
			if in.Status != tt.inUse || in.Reason != tt.inUseReason {
				t.Errorf("InUse = %s/%s, want %s/%s", in.Status, in.Reason, tt.inUse, tt.inUseReason)
			}
			if sh.Status != tt.shadowed || sh.Reason != tt.shadowReason {
				t.Errorf("Shadowed = %s/%s, want %s/%s", sh.Status, sh.Reason, tt.shadowed, tt.shadowReason)
			}
			for _, w := range tt.inUseWords {
				if !strings.Contains(in.Message, w) {
					t.Errorf("InUse message %q lacks %q", in.Message, w)
				}
			}
			for _, w := range tt.shadowedWords {
				if !strings.Contains(sh.Message, w) {
					t.Errorf("Shadowed message %q lacks %q", sh.Message, w)
				}
			}
		})
	}
}

func TestSetUsageStatusIsBounded(t *testing.T) {
	t.Parallel()
	u := &Usage{Selected: 30}
	for i := range 30 {
		u.Namespaces = append(u.Namespaces, "ns"+strings.Repeat("x", i))
		u.ShadowedBy = append(u.ShadowedBy, Shadowing{Policy: "p" + strings.Repeat("x", i), Namespaces: []string{"a", "b"}})
	}
	var st v1alpha1.ImagePolicyStatus
	SetUsage(&st, u)
	if st.NamespaceCount != 30 || len(st.Namespaces) != v1alpha1.MaxStatusNamespaces || len(st.ShadowedBy) != v1alpha1.MaxStatusNamespaces {
		t.Errorf("status = count %d, %d names, %d shadowers; want 30, %d, %d",
			st.NamespaceCount, len(st.Namespaces), len(st.ShadowedBy), v1alpha1.MaxStatusNamespaces, v1alpha1.MaxStatusNamespaces)
	}
	if st.ShadowedBy[0].NamespaceCount != 2 {
		t.Errorf("shadowedBy[0] = %+v, want a count of 2", st.ShadowedBy[0])
	}
	SetUsage(&st, nil)
	if st.NamespaceCount != 0 || st.Namespaces != nil || st.ShadowedBy != nil {
		t.Errorf("SetUsage(nil) left %+v", st)
	}
}
