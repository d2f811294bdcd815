package background

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/policies"
)

// RBAC the reports need: the watcher reads, creates, updates and deletes
// its own Report in each namespace. The chart's ClusterRole copies these
// markers.
//
// +kubebuilder:rbac:groups=openreports.io,resources=reports,verbs=get;list;create;update;delete

// What the Reports are called and carry.
const (
	// ReportName is the one Report pullguard keeps per namespace.
	ReportName = "pullguard"
	// Source names pullguard as the engine of the Report and its results.
	Source = "pullguard"
	// ManagedByLabel marks the Reports pullguard keeps, so it finds them
	// again after a restart or a change of leader.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// Category groups the results in Policy Reporter.
	Category = "Image pull"
	// RulePullable is the rule of a result that passes.
	RulePullable = "ImagePullable"
)

// Keys of a result's properties.
const (
	propContainer = "container"
	propImage     = "image"
	propClass     = "class"
	propAction    = "action"
	propFix       = "fix"
	propDigest    = "digest"
)

// AddToScheme registers the OpenReports types the watcher writes.
func AddToScheme(s *runtime.Scheme) error {
	return reportsv1alpha1.Install(s)
}

// reportFor is namespace's Report for results (sorted by kind, name and
// container order), keeping the timestamps of results that have not
// changed since old.
func reportFor(namespace string, results []Result, old *reportsv1alpha1.Report, now time.Time) *reportsv1alpha1.Report {
	since := map[string]metav1.Timestamp{}
	if old != nil {
		for _, r := range old.Results {
			since[resultKey(r)] = r.Timestamp
		}
	}
	rep := &reportsv1alpha1.Report{
		ObjectMeta: metav1.ObjectMeta{Name: ReportName, Namespace: namespace, Labels: map[string]string{ManagedByLabel: Source}},
		Source:     Source,
	}
	slices.SortFunc(results, func(a, b Result) int {
		return strings.Compare(a.Workload.Ref.Kind+"/"+a.Workload.Ref.Name, b.Workload.Ref.Kind+"/"+b.Workload.Ref.Name)
	})
	for _, r := range results {
		for _, c := range r.Containers {
			rr := reportResult(r, c)
			if ts, ok := since[resultKey(rr)]; ok {
				rr.Timestamp = ts
			} else {
				rr.Timestamp = metav1.Timestamp{Seconds: now.Unix()}
			}
			switch rr.Result {
			case resultPass:
				rep.Summary.Pass++
			case resultFail:
				rep.Summary.Fail++
			default:
				rep.Summary.Warn++
			}
			rep.Results = append(rep.Results, rr)
		}
	}
	return rep
}

const (
	resultPass reportsv1alpha1.Result = "pass"
	resultWarn reportsv1alpha1.Result = "warn"
	resultFail reportsv1alpha1.Result = "fail"
)

// reportResult is one container's verdict as an OpenReports result: fail
// for what the policy denies (the next pull would be refused at admission,
// and most likely fail on the node), warn for what it warns about or
// audits, pass otherwise.
func reportResult(r Result, c ContainerResult) reportsv1alpha1.ReportResult {
	rr := reportsv1alpha1.ReportResult{
		Source:   Source,
		Policy:   r.Policy,
		Rule:     RulePullable,
		Category: Category,
		Result:   resultPass,
		Subjects: []corev1.ObjectReference{r.Workload.Ref},
		Properties: map[string]string{
			propContainer: c.Container,
			propImage:     c.Image,
		},
	}
	if c.Digest != "" {
		rr.Properties[propDigest] = c.Digest
	}
	if c.Class == "" {
		rr.Description = fmt.Sprintf("container %q: image %q would pull", c.Container, c.Image)
		return rr
	}
	rr.Rule = string(c.Class)
	rr.Properties[propClass] = string(c.Class)
	rr.Properties[propAction] = string(c.Action)
	rr.Properties[propFix] = c.Fix
	rr.Description = c.Message + "; fix: " + c.Fix
	rr.Result, rr.Severity = resultWarn, "medium"
	if c.Failing() {
		rr.Result, rr.Severity = resultFail, "high"
	}
	return rr
}

// resultKey identifies a result across reports: its subject, container
// and what it says.
func resultKey(r reportsv1alpha1.ReportResult) string {
	var uid types.UID
	if len(r.Subjects) > 0 {
		uid = r.Subjects[0].UID
	}
	return string(uid) + "\x00" + r.Properties[propContainer] + "\x00" + string(r.Result) + "\x00" + r.Description
}

// fromReport reads back the verdicts a Report holds: what the watcher knew
// before a restart or a change of leader, so it does not announce them
// again.
func fromReport(rep *reportsv1alpha1.Report) []Result {
	byWorkload := map[types.UID]int{}
	var out []Result
	for _, rr := range rep.Results {
		if len(rr.Subjects) == 0 {
			continue
		}
		ref := rr.Subjects[0]
		i, ok := byWorkload[ref.UID]
		if !ok {
			i = len(out)
			byWorkload[ref.UID] = i
			out = append(out, Result{Workload: Workload{Ref: ref}, Policy: rr.Policy})
		}
		c := ContainerResult{
			Container: rr.Properties[propContainer], Image: rr.Properties[propImage], Digest: rr.Properties[propDigest],
			Class: image.Class(rr.Properties[propClass]), Action: policies.Action(rr.Properties[propAction]),
			Fix: rr.Properties[propFix],
		}
		c.Message = strings.TrimSuffix(rr.Description, "; fix: "+c.Fix)
		out[i].Containers = append(out[i].Containers, c)
	}
	return out
}

// reports writes the Reports, or says once why it cannot.
type reports struct {
	client client.Client // nil: reports are off
	// off is why reports are off ("" while on).
	off string
}

// errReportsOff is returned while the OpenReports CRD is missing.
var errReportsOff = errors.New("the OpenReports CRD (reports.openreports.io) is not installed")

// get is namespace's Report, nil when there is none.
func (r *reports) get(ctx context.Context, namespace string) (*reportsv1alpha1.Report, error) {
	var rep reportsv1alpha1.Report
	err := r.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ReportName}, &rep)
	switch {
	case meta.IsNoMatchError(err):
		return nil, errReportsOff
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return &rep, nil
}

// write makes namespace's Report hold results: created when there is none,
// updated only when what it says changed, deleted when nothing is left.
func (r *reports) write(ctx context.Context, namespace string, results []Result, now time.Time) error {
	old, err := r.get(ctx, namespace)
	if err != nil {
		return err
	}
	if len(results) == 0 {
		if old == nil {
			return nil
		}
		return client.IgnoreNotFound(r.client.Delete(ctx, old))
	}
	want := reportFor(namespace, results, old, now)
	if old == nil {
		return r.client.Create(ctx, want)
	}
	if apiequality.Semantic.DeepEqual(old.Results, want.Results) && old.Summary == want.Summary && old.Source == want.Source {
		return nil
	}
	old.Results, old.Summary, old.Source = want.Results, want.Summary, want.Source
	if old.Labels == nil {
		old.Labels = map[string]string{}
	}
	old.Labels[ManagedByLabel] = Source
	return r.client.Update(ctx, old)
}

// existing lists the Reports pullguard wrote, by namespace.
func (r *reports) existing(ctx context.Context) (map[string]*reportsv1alpha1.Report, error) {
	var list reportsv1alpha1.ReportList
	err := r.client.List(ctx, &list, client.MatchingLabels{ManagedByLabel: Source})
	if meta.IsNoMatchError(err) {
		return nil, errReportsOff
	}
	if err != nil {
		return nil, err
	}
	out := map[string]*reportsv1alpha1.Report{}
	for i := range list.Items {
		if list.Items[i].Name == ReportName {
			out[list.Items[i].Namespace] = &list.Items[i]
		}
	}
	return out, nil
}
