package resolve

import (
	"context"

	"github.com/pullguard/pullguard/internal/image"

	"golang.org/x/sync/errgroup"
)

// DefaultParallelism bounds how many images of one object ResolveAll asks
// for at once: enough that a pod's images cost about one round trip per
// registry. What bounds the load on one registry is the resolver's limit
// per registry (WithMaxWaiting), not the object.
const DefaultParallelism = 64

// Outcome is the answer to one Request of ResolveAll.
type Outcome struct {
	Facts image.Facts
	// Err is nil on success, else the *image.Error.
	Err *image.Error
}

// ResolveAll resolves reqs in parallel (at most DefaultParallelism at a
// time) and returns their outcomes in the order of reqs. One failing lookup
// never cancels the others.
func ResolveAll(ctx context.Context, l Lookup, reqs []Request) []Outcome {
	out := make([]Outcome, len(reqs))
	var g errgroup.Group
	g.SetLimit(DefaultParallelism)
	for i, req := range reqs {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				out[i].Err = Classify(req.Ref.Original, req.Ref.Registry, err)
				return nil
			}
			facts, err := l.Resolve(ctx, req)
			if err != nil {
				out[i].Err = Classify(req.Ref.Original, req.Ref.Registry, err)
				return nil
			}
			out[i].Facts = facts
			return nil
		})
	}
	_ = g.Wait() // every func returns nil; outcomes carry the errors
	return out
}
