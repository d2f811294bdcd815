package metrics

import (
	"context"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
)

// Lookup wraps next so that resolutions under way are counted in the
// resolutions_in_flight gauge: a gauge that stays high shows registries
// slower than admissions arrive. A nil *Metrics returns next unchanged.
func (m *Metrics) Lookup(next resolve.Lookup) resolve.Lookup {
	if m == nil || next == nil {
		return next
	}
	return &counting{next: next, m: m}
}

type counting struct {
	next resolve.Lookup
	m    *Metrics
}

func (l *counting) Resolve(ctx context.Context, req resolve.Request) (image.Facts, error) {
	l.m.inFlight.Inc()
	defer l.m.inFlight.Dec()
	return l.next.Resolve(ctx, req)
}
