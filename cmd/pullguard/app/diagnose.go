package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/decide"
	"github.com/pullguard/pullguard/internal/diagnose"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
)

// defaultDiagnoseTimeout bounds the whole diagnosis: the API reads and one
// resolution per stuck image.
const defaultDiagnoseTimeout = 30 * time.Second

type diagnoseOptions struct {
	kube               *genericclioptions.ConfigFlags
	allNamespaces      bool
	output             string
	timeout            time.Duration
	registryCAFile     string
	insecureRegistries []string
}

func newDiagnoseCommand() *cobra.Command {
	o := &diagnoseOptions{kube: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "diagnose [POD | TYPE/NAME]",
		Short: "Explain why a pod is stuck pulling its image, and how to fix it",
		Long: `diagnose reads what the kubelet said about each container stuck on its image
(ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull, or an
exec format error at start), the pod's events, its node and its pull secrets,
resolves the image again with the pod's credentials for the node's platform,
and says where the cause is (the registry or the node), with the evidence and
the fix. TYPE is deployment, statefulset, daemonset, replicaset, job or
cronjob (their current pods); with no argument, every stuck pod of the
namespace. Installed as kubectl-pullguard, it runs as "kubectl pullguard diagnose".

It reads pods, events, nodes, service accounts and secrets (get, list).

Exit status: 0 when nothing is stuck, 1 when something is, 2 on usage errors
(a pod that does not exist included).`,
		Example: `  kubectl pullguard diagnose web-7d9f5-x2x8q -n shop
  pullguard diagnose deployment/web -n shop -o json
  pullguard diagnose -A`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			return runDiagnose(cmd, o, target)
		},
	}
	f := cmd.Flags()
	o.kube.AddFlags(f)
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "every namespace")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.DurationVar(&o.timeout, "timeout", defaultDiagnoseTimeout, "time budget for the whole diagnosis")
	f.StringVar(&o.registryCAFile, "registry-ca-file", "", "PEM CA certificates trusted for registries, on top of the system's")
	f.StringArrayVar(&o.insecureRegistries, "insecure-registry", nil, "a registry host[:port] that may be spoken to over plain HTTP or unverified TLS; repeatable")
	return cmd
}

// diagnoseReport is the JSON output.
type diagnoseReport struct {
	Pods []diagnosedPod `json:"pods"`
}

type diagnosedPod struct {
	Namespace  string             `json:"namespace"`
	Name       string             `json:"name"`
	Node       string             `json:"node,omitempty"`
	Containers []diagnose.Verdict `json:"containers"`
}

func runDiagnose(cmd *cobra.Command, o *diagnoseOptions, target string) error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output must be text or json, not %q", o.output)
	}
	if o.timeout <= 0 {
		return usageError("--timeout must be positive, not %s", o.timeout)
	}
	if o.allNamespaces && target != "" {
		return usageError("give a pod or TYPE/NAME, or --all-namespaces, not both")
	}
	for _, h := range o.insecureRegistries {
		if err := validateRegistryHost(h); err != nil {
			return usageError("--insecure-registry %q: %w", h, err)
		}
	}
	rootCAs, err := registryRootCAs(o.registryCAFile)
	if err != nil {
		return err
	}
	cfg, err := o.kube.ToRESTConfig()
	if err != nil {
		return usageError("kubeconfig: %w", err)
	}
	namespace, _, err := o.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return usageError("namespace: %w", err)
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	if o.allNamespaces {
		namespace = ""
	}
	pods, err := podsOf(ctx, c, namespace, target)
	if err != nil {
		return err
	}
	view, err := cluster.New(c, cluster.Options{})
	if err != nil {
		return err
	}
	// diagnose runs next to the person asking, like check: a registry on
	// their loopback or private network is theirs.
	guard := addressguard.Config{AllowLoopback: true, AllowPrivate: true, InsecureRegistries: o.insecureRegistries, RootCAs: rootCAs,
		Proxy: addressguard.ProxyFromEnvironment()}
	d := &diagnoser{c: c, view: view, lookup: resolve.New(
		resolve.WithTransport(guard.Transport()),
		resolve.WithInsecureRegistries(guard.InsecureRegistries...),
	)}
	report := diagnoseReport{Pods: []diagnosedPod{}}
	stuck := false
	for i := range pods {
		p, err := d.pod(ctx, &pods[i])
		if err != nil {
			return err
		}
		if len(p.Containers) > 0 {
			stuck = true
		}
		if len(p.Containers) > 0 || target != "" {
			report.Pods = append(report.Pods, p)
		}
	}
	out := cmd.OutOrStdout()
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			return err
		}
	} else if err := printDiagnosis(out, report, namespace); err != nil {
		return err
	}
	if stuck {
		return errDenied
	}
	return nil
}

// podsOf lists the pods a target names: a pod, the current pods of a
// workload, or (no target) every pod of the namespace.
func podsOf(ctx context.Context, c client.Client, namespace, target string) ([]corev1.Pod, error) {
	if target == "" {
		var list corev1.PodList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list pods: %w", err)
		}
		return list.Items, nil
	}
	kind, name, ok := strings.Cut(target, "/")
	if !ok {
		kind, name = "pod", target
	}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	notFound := func(err error) error {
		if apierrors.IsNotFound(err) {
			return usageError("%s %q not found in namespace %q", kind, name, namespace)
		}
		return fmt.Errorf("get %s %q: %w", kind, name, err)
	}
	switch k := strings.ToLower(kind); {
	case k == "pod" || k == "pods" || k == "po":
		var p corev1.Pod
		if err := c.Get(ctx, key, &p); err != nil {
			return nil, notFound(err)
		}
		return []corev1.Pod{p}, nil
	case k == "cronjob" || k == "cronjobs" || k == "cj":
		var cj batchv1.CronJob
		if err := c.Get(ctx, key, &cj); err != nil {
			return nil, notFound(err)
		}
		return cronJobPods(ctx, c, &cj)
	default:
		w, ok := workloadKinds[kindAliases[k]]
		if !ok {
			return nil, usageError("unknown type %q: want pod, deployment, statefulset, daemonset, replicaset, job or cronjob", kind)
		}
		obj := w.object()
		if err := c.Get(ctx, key, obj); err != nil {
			return nil, notFound(err)
		}
		return podsMatching(ctx, c, namespace, w.selector(obj))
	}
}

// workloadKind is a workload whose pods its label selector finds.
type workloadKind struct {
	object   func() client.Object
	selector func(client.Object) *metav1.LabelSelector
}

var workloadKinds = map[string]workloadKind{
	"deployment": {func() client.Object { return &appsv1.Deployment{} },
		func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector }},
	"statefulset": {func() client.Object { return &appsv1.StatefulSet{} },
		func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.StatefulSet).Spec.Selector }},
	"daemonset": {func() client.Object { return &appsv1.DaemonSet{} },
		func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.DaemonSet).Spec.Selector }},
	"replicaset": {func() client.Object { return &appsv1.ReplicaSet{} },
		func(o client.Object) *metav1.LabelSelector { return o.(*appsv1.ReplicaSet).Spec.Selector }},
	"job": {func() client.Object { return &batchv1.Job{} },
		func(o client.Object) *metav1.LabelSelector { return o.(*batchv1.Job).Spec.Selector }},
}

// kindAliases are the names kubectl accepts for each workload kind.
var kindAliases = map[string]string{
	"deployment": "deployment", "deployments": "deployment", "deploy": "deployment",
	"statefulset": "statefulset", "statefulsets": "statefulset", "sts": "statefulset",
	"daemonset": "daemonset", "daemonsets": "daemonset", "ds": "daemonset",
	"replicaset": "replicaset", "replicasets": "replicaset", "rs": "replicaset",
	"job": "job", "jobs": "job",
}

func podsMatching(ctx context.Context, c client.Client, namespace string, selector *metav1.LabelSelector) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil || sel.Empty() {
		return nil, fmt.Errorf("the workload's selector selects no pods: %v", err)
	}
	var list corev1.PodList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	return list.Items, nil
}

// cronJobPods are the pods of the jobs the CronJob owns.
func cronJobPods(ctx context.Context, c client.Client, cj *batchv1.CronJob) ([]corev1.Pod, error) {
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(cj.Namespace)); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var pods []corev1.Pod
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if !slices.ContainsFunc(j.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == cj.UID }) {
			continue
		}
		p, err := podsMatching(ctx, c, cj.Namespace, j.Spec.Selector)
		if err != nil {
			return nil, err
		}
		pods = append(pods, p...)
	}
	return pods, nil
}

// diagnoser gathers the two views of each stuck container.
type diagnoser struct {
	c      client.Client
	view   *cluster.View
	lookup resolve.Lookup
}

// pod diagnoses every container of p stuck on its image.
func (d *diagnoser) pod(ctx context.Context, p *corev1.Pod) (diagnosedPod, error) {
	out := diagnosedPod{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Containers: []diagnose.Verdict{}}
	type stuckContainer struct {
		status corev1.ContainerStatus
		field  string // the event fieldPath: spec.containers{name}
	}
	var stuck []stuckContainer
	add := func(statuses []corev1.ContainerStatus, field string) {
		for _, s := range statuses {
			reason := ""
			if s.State.Waiting != nil {
				reason = s.State.Waiting.Reason
			}
			crashing := reason == "CrashLoopBackOff" || (s.LastTerminationState.Terminated != nil && s.LastTerminationState.Terminated.ExitCode == 255)
			if diagnose.Stuck(reason, false) || crashing {
				stuck = append(stuck, stuckContainer{status: s, field: field + "{" + s.Name + "}"})
			}
		}
	}
	add(p.Status.InitContainerStatuses, "spec.initContainers")
	add(p.Status.ContainerStatuses, "spec.containers")
	add(p.Status.EphemeralContainerStatuses, "spec.ephemeralContainers")
	if len(stuck) == 0 {
		return out, nil
	}
	events, err := d.events(ctx, p)
	if err != nil {
		return out, err
	}
	node := d.node(ctx, p.Spec.NodeName)
	obj := workload.Object{APIVersion: "v1", Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
	uses := workload.Uses(&p.Spec, "/spec")
	setting, err := decide.SettingFor(ctx, scheduledPod{view: d.view, node: node}, p.Namespace, uses, d.lookup)
	if err != nil {
		return out, err
	}
	decision := decide.Decide(ctx, policies.Default().VerifyingTo(image.VerifyLayers), obj, uses, setting)
	var creds resolve.Credentials
	if len(uses) > 0 {
		creds = setting.Pods[uses[0].Pod].Credentials
	}
	for _, sc := range stuck {
		s := sc.status
		in := diagnose.Inputs{
			Namespace: p.Namespace, Pod: p.Name, Node: p.Spec.NodeName, Container: s.Name, Image: specImage(uses, s),
			ServiceAccount: p.Spec.ServiceAccountName,
		}
		if s.State.Waiting != nil {
			in.State = s.State.Waiting.Reason
			in.Messages = append(in.Messages, s.State.Waiting.Message)
		}
		if t := s.LastTerminationState.Terminated; t != nil && in.State == "CrashLoopBackOff" {
			in.Messages = append(in.Messages, t.Message)
		}
		for _, e := range events {
			if e.InvolvedObject.FieldPath != sc.field {
				continue
			}
			if e.Type == corev1.EventTypeWarning {
				in.Messages = append(in.Messages, e.Message)
			}
			in.Events = append(in.Events, eventLine(e))
		}
		if node != nil {
			in.DiskPressure = cluster.ConditionTrue(node, corev1.NodeDiskPressure)
		}
		if ref, err := image.Parse(in.Image); err == nil {
			in.Credentials = credentialSources(ctx, creds, ref.Repository)
		}
		for _, f := range decision.Findings {
			if f.Container == s.Name && pullFailure(f.Class) {
				in.Finding = &diagnose.Finding{Class: diagnose.Cause(f.Class), Message: f.Message, Fix: f.Fix}
				break
			}
		}
		if in.State == "CrashLoopBackOff" && (in.Finding == nil || in.Finding.Class != diagnose.PlatformMismatch) {
			continue // crashing for its own reasons, not its image's
		}
		out.Containers = append(out.Containers, diagnose.Judge(in))
	}
	return out, nil
}

// credentialSources names, once each and in the kubelet's order, the
// sources of the credentials it tries for repository, then what it read
// for the pod and got nothing from, with why. An unreadable pull secret
// fails Candidates; it is among the skipped.
func credentialSources(ctx context.Context, creds resolve.Credentials, repository string) []string {
	var out []string
	cands, _ := creds.Candidates(ctx, repository)
	for _, c := range cands {
		if !slices.Contains(out, c.Source) {
			out = append(out, c.Source)
		}
	}
	return append(out, creds.Skipped()...)
}

// pullFailure reports whether a finding class makes a pull fail (not only
// breaks a rule, as :latest does).
func pullFailure(c image.Class) bool {
	switch c {
	case image.InvalidReference, image.NotFound, image.Unauthorized, image.Forbidden,
		image.RateLimited, image.Unreachable, image.PlatformMismatch:
		return true
	}
	return false
}

// specImage is the image the pod spec names for the container (the
// status may carry a resolved name).
func specImage(uses []workload.ImageUse, s corev1.ContainerStatus) string {
	for _, u := range uses {
		if u.Container == s.Name {
			return u.Image
		}
	}
	return s.Image
}

// events are the pod's events, newest first.
func (d *diagnoser) events(ctx context.Context, p *corev1.Pod) ([]corev1.Event, error) {
	var list corev1.EventList
	if err := d.c.List(ctx, &list, client.InNamespace(p.Namespace), client.MatchingFields{"involvedObject.uid": string(p.UID)}); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, nil // diagnose with what it may read
		}
		return nil, fmt.Errorf("list events of pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	slices.SortStableFunc(list.Items, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
	return list.Items, nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// eventLine is "Failed (x4, 2m ago): message".
func eventLine(e corev1.Event) string {
	count := e.Count
	if e.Series != nil && e.Series.Count > count {
		count = e.Series.Count
	}
	ago := ""
	if t := eventTime(e); !t.IsZero() {
		ago = time.Since(t).Round(time.Second).String() + " ago"
	}
	meta := strings.Join(slices.DeleteFunc([]string{countText(count), ago}, func(s string) bool { return s == "" }), ", ")
	if meta != "" {
		meta = " (" + meta + ")"
	}
	return e.Reason + meta + ": " + e.Message
}

func countText(n int32) string {
	if n > 1 {
		return fmt.Sprintf("x%d", n)
	}
	return ""
}

// node reads the pod's node; one that cannot be read is left out
// (diagnose says what it can).
func (d *diagnoser) node(ctx context.Context, name string) *corev1.Node {
	if name == "" {
		return nil
	}
	var n corev1.Node
	if err := d.c.Get(ctx, types.NamespacedName{Name: name}, &n); err != nil {
		return nil
	}
	return &n
}

// printDiagnosis writes one block per stuck container, the verdict first.
func printDiagnosis(w io.Writer, r diagnoseReport, namespace string) error {
	var b strings.Builder
	if len(r.Pods) == 0 {
		where := "namespace " + namespace
		if namespace == "" {
			where = "any namespace"
		}
		fmt.Fprintf(&b, "No pod in %s is stuck pulling its image.\n", where)
	}
	for _, p := range r.Pods {
		if len(p.Containers) == 0 {
			fmt.Fprintf(&b, "Pod %s/%s is not stuck pulling: every container has its image.\n", p.Namespace, p.Name)
			continue
		}
		node := ""
		if p.Node != "" {
			node = " on node " + p.Node
		}
		fmt.Fprintf(&b, "Pod %s/%s%s:\n", p.Namespace, p.Name, node)
		for _, c := range p.Containers {
			fmt.Fprintf(&b, "  container %q, image %q: %s\n", c.Container, c.Image, c.State)
			fmt.Fprintf(&b, "    cause: %s (%s)\n", c.Cause, whereText(c.Where))
			fmt.Fprintf(&b, "    fix:   %s\n", c.Fix)
			if len(c.Evidence) > 0 {
				fmt.Fprintf(&b, "    evidence:\n")
				for _, e := range c.Evidence {
					fmt.Fprintf(&b, "      %s\n", e)
				}
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func whereText(where string) string {
	if where == diagnose.OnNode {
		return "on the node"
	}
	return "in the registry"
}

// scheduledPod is the cluster as a pod already bound to a node sees it:
// the credentials the cluster view gives, and that node alone as its
// candidate (none when the pod is not bound or the node is gone).
type scheduledPod struct {
	view *cluster.View
	node *corev1.Node
}

func (s scheduledPod) Credentials(ctx context.Context, namespace string, pod *workload.PodContext) (resolve.Credentials, error) {
	return s.view.Credentials(ctx, namespace, pod)
}

func (s scheduledPod) Nodes(context.Context, *workload.PodContext) ([]policies.Node, error) {
	if s.node == nil {
		return nil, nil
	}
	if n, ok := cluster.NodeOf(s.node); ok {
		return []policies.Node{n}, nil
	}
	return nil, nil
}
