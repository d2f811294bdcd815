package policies

import (
	"cmp"
	"fmt"
	"slices"
)

// Priority is the policy's spec.priority (0 for the built-in default).
func (p *Policy) Priority() int32 { return p.priority }

// Precedes reports whether a wins over b in a namespace both select. This is
// the one rule of precedence, shared by the webhook, `pullguard check` and
// the policies' status: the higher spec.priority wins; at equal priority a
// policy with a namespaceSelector wins over one that selects every
// namespace (so a cluster-wide baseline is overridden for chosen namespaces
// without editing it, as before priorities existed); then the first by name
// (names are unique, so the order never depends on how policies are listed).
// Policies are never merged.
func Precedes(a, b *Policy) bool { return compare(a, b) < 0 }

func compare(a, b *Policy) int {
	if c := cmp.Compare(b.priority, a.priority); c != 0 {
		return c
	}
	if a.selective != b.selective {
		if a.selective {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.name, b.name)
}

// precedenceReason says, for a message, why winner precedes loser.
func precedenceReason(winner, loser *Policy) string {
	switch {
	case winner.priority != loser.priority:
		return fmt.Sprintf("priority %d > %d", winner.priority, loser.priority)
	case winner.selective != loser.selective:
		return fmt.Sprintf("same priority %d, and it has a namespaceSelector", winner.priority)
	default:
		return fmt.Sprintf("same priority %d, and its name sorts first", winner.priority)
	}
}

// Set is a list of valid policies in precedence order, the first of which
// that selects a namespace decides it.
type Set struct {
	ordered []*Policy
}

// NewSet orders policies by Precedes. Names must be unique (the API server
// makes them so; LoadAll checks files).
func NewSet(ps []*Policy) *Set {
	ordered := slices.Clone(ps)
	slices.SortFunc(ordered, compare)
	return &Set{ordered: ordered}
}

// Policies are the set's policies in precedence order.
func (s *Set) Policies() []*Policy { return slices.Clone(s.ordered) }

// For is the policy that decides a namespace with these labels (nil for
// cluster-scoped objects, see AppliesTo), or Default() when none selects it.
func (s *Set) For(namespaceLabels map[string]string) *Policy {
	if p := s.winner(namespaceLabels); p != nil {
		return p
	}
	return Default()
}

func (s *Set) winner(namespaceLabels map[string]string) *Policy {
	for _, p := range s.ordered {
		if p.AppliesTo(namespaceLabels) {
			return p
		}
	}
	return nil
}

// Namespace is a namespace as policies select it.
type Namespace struct {
	Name   string
	Labels map[string]string
}

// Usage is where one policy of a Set is in use, for its status.
type Usage struct {
	// Selected counts the namespaces its namespaceSelector selects.
	Selected int
	// Namespaces are those it decides, sorted.
	Namespaces []string
	// ShadowedBy are the policies that decide the other namespaces it
	// selects, in precedence order.
	ShadowedBy []Shadowing
}

// Shadowing is a policy that decides namespaces another policy selects.
type Shadowing struct {
	Policy string
	// Reason says why it precedes ("priority 10 > 0").
	Reason string
	// Namespaces are the namespaces it takes, sorted.
	Namespaces []string
}

// Usage is where the policy named name is in use among namespaces, or nil
// when the set has no such policy.
func (s *Set) Usage(name string, namespaces []Namespace) *Usage {
	i := slices.IndexFunc(s.ordered, func(p *Policy) bool { return p.name == name })
	if i < 0 {
		return nil
	}
	self := s.ordered[i]
	u := &Usage{}
	taken := map[*Policy][]string{}
	for _, ns := range namespaces {
		if !self.AppliesTo(ns.Labels) {
			continue
		}
		u.Selected++
		// Only the policies before self can take the namespace from it.
		w := (&Set{ordered: s.ordered[:i]}).winner(ns.Labels)
		if w == nil {
			u.Namespaces = append(u.Namespaces, ns.Name)
			continue
		}
		taken[w] = append(taken[w], ns.Name)
	}
	slices.Sort(u.Namespaces)
	for _, p := range s.ordered[:i] {
		if names, ok := taken[p]; ok {
			slices.Sort(names)
			u.ShadowedBy = append(u.ShadowedBy, Shadowing{Policy: p.name, Reason: precedenceReason(p, self), Namespaces: names})
		}
	}
	return u
}
