package metrics

import "sync"

// bounded keeps the first max distinct values of a label and folds the rest
// into Other, so a label fed from requests cannot grow without limit.
type bounded struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newBounded(limit int) *bounded {
	return &bounded{max: limit, seen: make(map[string]struct{}, limit)}
}

// value is v when v is among the values kept, or there is still room for
// it, and Other otherwise. The empty value is kept as "" (unknown).
func (b *bounded) value(v string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok {
		return v
	}
	if len(b.seen) >= b.max {
		return Other
	}
	b.seen[v] = struct{}{}
	return v
}
