package certs

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// retryAfterError is how soon a failed check is retried, when that is
// sooner than CheckInterval.
const retryAfterError = 10 * time.Second

// watchBackoff is the wait before a closed or refused watch is opened again.
const watchBackoff = 5 * time.Second

// NewRunnable keeps what Bootstrap set up: it re-checks every CheckInterval
// and, when c can watch (client.WithWatch, e.g. from client.NewWithWatch),
// as soon as the Secret or a webhook configuration changes, so another
// replica's renewal reaches this replica's CertDir and a caBundle reset by
// `helm upgrade` is patched again. It runs on every replica, leader or not.
func NewRunnable(c client.Client, o Options) manager.Runnable {
	return &runnable{c: c, o: o}
}

type runnable struct {
	c client.Client
	o Options
}

var _ manager.LeaderElectionRunnable = (*runnable)(nil)

// NeedLeaderElection is false: every replica writes its own CertDir.
func (r *runnable) NeedLeaderElection() bool { return false }

// Start checks until ctx ends. Check failures are logged and retried, not
// returned, so a transient API error does not stop the manager.
func (r *runnable) Start(ctx context.Context) error {
	o, err := r.o.withDefaults()
	if err != nil {
		return err
	}
	log := logf.FromContext(ctx).WithName("certs")
	changed := make(chan struct{}, 1)
	if w, ok := r.c.(client.WithWatch); ok {
		for _, t := range r.watched(o) {
			go watchLoop(ctx, w, t, changed, log.WithValues("watch", t.kind))
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-changed:
		}
		next := o.CheckInterval
		if err := Bootstrap(ctx, r.c, o); err != nil {
			log.Error(err, "checking the serving certificate")
			next = min(next, retryAfterError)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

type watched struct {
	kind string
	list client.ObjectList
	opts []client.ListOption
}

// watched are the Secret and the configurations, each selected by name.
func (r *runnable) watched(o Options) []watched {
	byName := func(name string) client.MatchingFields { return client.MatchingFields{"metadata.name": name} }
	out := []watched{{"Secret", &corev1.SecretList{}, []client.ListOption{client.InNamespace(o.Namespace), byName(o.SecretName)}}}
	for _, name := range o.WebhookConfigurations {
		for _, k := range configurationKinds {
			out = append(out, watched{k.kind, k.newList(), []client.ListOption{byName(name)}})
		}
	}
	return out
}

// watchLoop signals changed on every event of one watch, reopening it
// when the API server closes it, until ctx ends.
func watchLoop(ctx context.Context, c client.WithWatch, t watched, changed chan<- struct{}, log logr.Logger) {
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, t.list, t.opts...)
		if err != nil {
			log.V(1).Info("cannot watch; relying on periodic checks until it can", "err", err.Error())
		} else {
			drain(ctx, w, changed)
		}
		select {
		case <-ctx.Done():
		case <-time.After(watchBackoff):
		}
	}
}

func drain(ctx context.Context, w watch.Interface, changed chan<- struct{}) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			// One pending signal is enough: the check reads everything.
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}
