package background

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/text"
)

// RBAC of the Events the watcher writes.
//
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Defaults of Options.
const (
	// DefaultInterval is the time between two full cycles: a deleted tag
	// or expired secret shows within minutes, and a 500-image cluster costs
	// its registries one HEAD per image and interval.
	DefaultInterval = 10 * time.Minute
	// Jitter spreads the cycles of many clusters sharing a registry.
	Jitter = 0.1
	// settle is how long a change waits for the ones that come with it (a
	// rollout touches a Deployment several times) before it is checked.
	settle = time.Second
	// EventReason is the reason of the Events on workloads.
	EventReason = "ImageWouldNotPull"
	// eventAction is the Event's action: what pullguard did.
	eventAction = "Verify"
	// maxEventNote bounds an Event's note (the API refuses more than 1 kB).
	maxEventNote = 1000
)

// Recorder is what the watcher reports to metrics (internal/metrics).
type Recorder interface {
	// BackgroundFindings sets, per finding class, how many workloads have
	// a container with a finding of that class.
	BackgroundFindings(workloads map[image.Class]int)
	// BackgroundCycle records one full cycle: its duration and whether it
	// succeeded.
	BackgroundCycle(d time.Duration, ok bool)
}

// Options configure a Watcher.
type Options struct {
	// Checker checks the workloads.
	Checker *Checker
	// Reader lists workloads and reads namespaces: the manager's cached
	// client, whose cache holds CacheOptions.
	Reader client.Reader
	// Informers are the manager's cache's, for change notifications; nil
	// runs the cycles only.
	Informers ctrlcache.Informers
	// Reports writes the Reports (a direct client: the watcher never
	// caches Reports); nil turns reports off.
	Reports client.Client
	// Events records the Events; nil records none.
	Events events.EventRecorder
	// Recorder receives the gauges; nil records nothing.
	Recorder Recorder
	// Interval is the time between full cycles, jittered by Jitter; 0
	// means DefaultInterval.
	Interval time.Duration
	// ExcludeLabel, when set, is a namespace label whose value "true"
	// keeps the namespace out, as it keeps it from the webhooks.
	ExcludeLabel string
	Log          logr.Logger
}

// Watcher runs background verification on the elected leader (it is a
// manager.Runnable that needs leader election).
type Watcher struct {
	o       Options
	reports reports

	mu      sync.Mutex
	pending map[request]struct{}
	signal  chan struct{}

	// state is the last result per workload; only the run loop touches it.
	state map[Key]Result
	// unwritten are the namespaces whose Report could not be written (an
	// API error, or reports off): written again with the next change.
	unwritten map[string]bool
}

var (
	_ manager.Runnable               = (*Watcher)(nil)
	_ manager.LeaderElectionRunnable = (*Watcher)(nil)
)

// request is a change to check: one workload, or (Kind "") every workload
// of a namespace.
type request struct {
	Key
}

// New returns a Watcher; call Start (the manager does).
func New(o Options) *Watcher {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return &Watcher{
		o:         o,
		reports:   reports{client: o.Reports},
		pending:   map[request]struct{}{},
		signal:    make(chan struct{}, 1),
		state:     map[Key]Result{},
		unwritten: map[string]bool{},
	}
}

// NeedLeaderElection is true: one replica verifies, so registries are asked
// once and Events are not doubled.
func (w *Watcher) NeedLeaderElection() bool { return true }

// Start watches for changes and runs a full cycle at once and then every
// jittered interval, until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	if w.o.Informers != nil {
		stop, err := w.watch(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	w.seed(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			if err := w.Cycle(ctx); err != nil && ctx.Err() == nil {
				w.o.Log.Error(err, "background cycle failed")
			}
			timer.Reset(wait.Jitter(w.o.Interval, Jitter))
		case <-w.signal:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(settle):
			}
			if err := w.checkChanges(ctx); err != nil && ctx.Err() == nil {
				w.o.Log.Error(err, "checking changed workloads failed")
			}
		}
	}
}

// Cycle checks every workload once and brings the Reports, Events and
// gauges up to date.
func (w *Watcher) Cycle(ctx context.Context) error {
	start := time.Now()
	err := w.cycle(ctx)
	if w.o.Recorder != nil {
		w.o.Recorder.BackgroundCycle(time.Since(start), err == nil)
	}
	return err
}

func (w *Watcher) cycle(ctx context.Context) error {
	ws, err := w.collect(ctx, "")
	if err != nil {
		return err
	}
	results, stats := w.o.Checker.Check(ctx, ws)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	w.o.Log.V(1).Info("background cycle", "workloads", len(ws), "lookups", stats.Lookups, "shared", stats.Shared)
	return w.apply(ctx, results, func(Key) bool { return true })
}

// collect lists the workloads of namespace ("" for all) outside excluded
// namespaces.
func (w *Watcher) collect(ctx context.Context, namespace string) ([]Workload, error) {
	ws, err := Collect(ctx, w.o.Reader, namespace)
	if err != nil || w.o.ExcludeLabel == "" {
		return ws, err
	}
	excluded := map[string]bool{}
	out := ws[:0]
	for _, wl := range ws {
		ns := wl.Ref.Namespace
		ex, ok := excluded[ns]
		if !ok {
			var n corev1.Namespace
			if err := w.o.Reader.Get(ctx, client.ObjectKey{Name: ns}, &n); err == nil {
				ex = n.Labels[w.o.ExcludeLabel] == "true"
			}
			excluded[ns] = ex
		}
		if !ex {
			out = append(out, wl)
		}
	}
	return out, nil
}

// checkChanges checks what the change notifications asked for.
func (w *Watcher) checkChanges(ctx context.Context) error {
	w.mu.Lock()
	pending := w.pending
	w.pending = map[request]struct{}{}
	w.mu.Unlock()
	whole := map[string]bool{}
	keys := map[Key]bool{}
	for r := range pending {
		if r.Kind == "" {
			whole[r.Namespace] = true
		} else {
			keys[r.Key] = true
		}
	}
	namespaces := map[string]bool{}
	for r := range pending {
		namespaces[r.Namespace] = true
	}
	var errs []error
	for ns := range namespaces {
		ws, err := w.collect(ctx, ns)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		inScope := func(k Key) bool { return k.Namespace == ns && (whole[ns] || keys[k]) }
		ws = filter(ws, func(wl Workload) bool { return inScope(wl.Key()) })
		results, _ := w.o.Checker.Check(ctx, ws)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, w.apply(ctx, results, inScope))
	}
	return errors.Join(errs...)
}

func filter[T any](s []T, keep func(T) bool) []T {
	out := s[:0]
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// apply makes results the results of the workloads inScope (those in
// scope without a result are gone), announces what newly fails, and writes
// the Reports of the namespaces it touched and the gauges.
func (w *Watcher) apply(ctx context.Context, results []Result, inScope func(Key) bool) error {
	touched := map[string]bool{}
	seen := map[Key]bool{}
	for _, r := range results {
		k := r.Workload.Key()
		seen[k] = true
		prev, had := w.state[k]
		if r.Err != nil {
			// The cluster view failed: the last verdict stands.
			w.o.Log.Error(r.Err, "workload not verified", "workload", r.Workload.Object().String())
			continue
		}
		w.announce(r, prev, had)
		if !had || !apiequality.Semantic.DeepEqual(prev, r) {
			touched[k.Namespace] = true
		}
		w.state[k] = r
	}
	for k := range w.state {
		if inScope(k) && !seen[k] {
			delete(w.state, k)
			touched[k.Namespace] = true
		}
	}
	err := w.writeReports(ctx, touched)
	w.publish()
	return err
}

// announce records an Event for each container of r that fails now and
// did not fail the same way before.
func (w *Watcher) announce(r Result, prev Result, had bool) {
	if w.o.Events == nil {
		return
	}
	before := map[string]ContainerResult{}
	if had {
		for _, c := range prev.Containers {
			before[c.Container] = c
		}
	}
	for _, c := range r.Containers {
		if !c.Failing() {
			continue
		}
		if p, ok := before[c.Container]; ok && p.Failing() && p.Class == c.Class && p.Message == c.Message {
			continue
		}
		note := text.TruncateBytes(fmt.Sprintf("[%s] %s; fix: %s", c.Class, c.Message, c.Fix), maxEventNote)
		ref := r.Workload.Ref
		w.o.Events.Eventf(&ref, nil, corev1.EventTypeWarning, EventReason, eventAction, "%s", note)
	}
}

// writeReports writes the Report of each namespace in touched, and of
// those whose last write failed. While the CRD is missing, reports are off:
// said once, tried again with each apply, and once the CRD is there every
// namespace's Report is written.
func (w *Watcher) writeReports(ctx context.Context, touched map[string]bool) error {
	if w.reports.client == nil {
		return nil
	}
	for ns := range w.unwritten {
		touched[ns] = true
	}
	if w.reports.off != "" {
		for k := range w.state {
			touched[k.Namespace] = true
		}
	}
	if len(touched) == 0 {
		return nil
	}
	byNamespace := map[string][]Result{}
	for k, r := range w.state {
		if touched[k.Namespace] {
			byNamespace[k.Namespace] = append(byNamespace[k.Namespace], r)
		}
	}
	now := time.Now()
	var errs []error
	for ns := range touched {
		err := w.reports.write(ctx, ns, byNamespace[ns], now)
		if errors.Is(err, errReportsOff) {
			if w.reports.off == "" {
				w.reports.off = err.Error()
				w.o.Log.Info("reports are off: findings go to Events and metrics only; install the CRD (the chart's reports.installCRDs) to get Reports",
					"reason", w.reports.off)
			}
			return nil
		}
		if err != nil {
			w.unwritten[ns] = true
			errs = append(errs, fmt.Errorf("report of namespace %q: %w", ns, err))
			continue
		}
		delete(w.unwritten, ns)
		if w.reports.off != "" {
			w.o.Log.Info("reports are on: the OpenReports CRD is installed")
			w.reports.off = ""
		}
	}
	return errors.Join(errs...)
}

// seed reads the Reports a previous leader wrote, so the first cycle
// announces only what changed since, and rewrites what is stale.
func (w *Watcher) seed(ctx context.Context) {
	if w.reports.client == nil {
		return
	}
	existing, err := w.reports.existing(ctx)
	if err != nil {
		if !errors.Is(err, errReportsOff) {
			w.o.Log.Error(err, "reading existing reports")
		}
		return
	}
	for _, rep := range existing {
		for _, r := range fromReport(rep) {
			w.state[r.Workload.Key()] = r
		}
	}
}

// publish sets the gauges from the state.
func (w *Watcher) publish() {
	if w.o.Recorder == nil {
		return
	}
	counts := map[image.Class]int{}
	for _, r := range w.state {
		classes := map[image.Class]bool{}
		for _, c := range r.Containers {
			if c.Class != "" {
				classes[c.Class] = true
			}
		}
		for c := range classes {
			counts[c]++
		}
	}
	w.o.Recorder.BackgroundFindings(counts)
}

// watch adds the change handlers to the informers; stop removes them.
func (w *Watcher) watch(ctx context.Context) (stop func(), err error) {
	var removers []func()
	stop = func() {
		for _, r := range removers {
			r()
		}
	}
	add := func(obj client.Object, h toolscache.ResourceEventHandler) error {
		inf, err := w.o.Informers.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return err
		}
		removers = append(removers, func() { _ = inf.RemoveEventHandler(reg) })
		return nil
	}
	for _, obj := range WatchedObjects() {
		if err := add(obj, w.workloadHandler()); err != nil {
			stop()
			return nil, err
		}
	}
	for _, obj := range []client.Object{&corev1.Secret{}, &corev1.ServiceAccount{}} {
		if err := add(obj, w.namespaceHandler()); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

// workloadHandler asks for a check of a workload that was created or
// deleted, or whose pull inputs (pod spec, a Job's end, a Pod's end)
// changed. Objects a checked workload owns are its owner's business.
func (w *Watcher) workloadHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				w.enqueueWorkload(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			if pullInputsChanged(oldObj, newObj) {
				w.enqueueWorkload(newObj)
			}
		},
		DeleteFunc: func(obj any) { w.enqueueWorkload(obj) },
	}
}

// namespaceHandler asks for a check of a namespace whose pull secret or
// service account changed: any of its workloads may pull with it.
func (w *Watcher) namespaceHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if !initial {
				w.enqueueNamespace(obj)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(client.Object)
			n, ok2 := newObj.(client.Object)
			if ok1 && ok2 && o.GetResourceVersion() != n.GetResourceVersion() {
				w.enqueueNamespace(newObj)
			}
		},
		DeleteFunc: func(obj any) { w.enqueueNamespace(obj) },
	}
}

func objectOf(obj any) (client.Object, bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	o, ok := obj.(client.Object)
	return o, ok
}

func (w *Watcher) enqueueWorkload(obj any) {
	o, ok := objectOf(obj)
	if !ok {
		return
	}
	if c := metav1.GetControllerOf(o); c != nil && checkedOwner(o, c) {
		return
	}
	gvk, ok := gvkOf(o)
	if !ok {
		return
	}
	w.enqueue(request{Key{Namespace: o.GetNamespace(), Kind: gvk.Kind, Name: o.GetName()}})
}

func (w *Watcher) enqueueNamespace(obj any) {
	if o, ok := objectOf(obj); ok {
		w.enqueue(request{Key{Namespace: o.GetNamespace()}})
	}
}

func (w *Watcher) enqueue(r request) {
	w.mu.Lock()
	w.pending[r] = struct{}{}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// pullInputsChanged says whether an update changes what the watcher checks:
// the pod spec (already slim in the cache), a Job's end or a Pod's.
func pullInputsChanged(oldObj, newObj any) bool {
	o, ok1 := objectOf(oldObj)
	n, ok2 := objectOf(newObj)
	if !ok1 || !ok2 {
		return false
	}
	ow, wasWorkload := workloadOf(o)
	nw, isWorkload := workloadOf(n)
	if wasWorkload != isWorkload {
		return true // a Job or Pod ended, or it changed hands
	}
	return isWorkload && !apiequality.Semantic.DeepEqual(ow.Spec, nw.Spec)
}
