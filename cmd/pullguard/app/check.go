package app

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/decide"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/manifest"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// Defaults of `pullguard check`.
const (
	defaultCheckTimeout = 30 * time.Second
	defaultPlatform     = "linux/amd64"
	// checkParallelism bounds how many objects are checked at once; images
	// within one object are resolved in parallel too.
	checkParallelism = 8
)

type checkOptions struct {
	files              []string
	policyFile         string
	platforms          []string
	dockerConfig       string
	providers          providerFlags
	nodeRegistryConfig string
	registryProxy      string
	registryCAFile     string
	insecureRegistries []string
	timeout            time.Duration
	output             string
	failOn             string
}

// The output formats of check, and what fails it.
var checkOutputs = []string{"text", "json", "github", "sarif", "junit"}

const (
	failOnDeny = "deny"
	failOnWarn = "warn"
)

func newCheckCommand() *cobra.Command {
	o := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check -f FILE|DIR|- [-f ...]",
		Short: "Check the images of manifest files against their registries (for CI; no cluster needed)",
		Long: `check reads Kubernetes manifests (YAML or JSON, multi-document, List kinds,
directories recursively, "-" for stdin), finds every image of every Pod and
workload template, resolves it against its registry and prints what would fail
to pull, decided by the policy (the built-in default when --policy is not given).

Exit status: 0 when nothing is denied, 1 when something is, 2 on usage or input errors.`,
		Example: `  pullguard check -f deploy/
  pullguard check -f app.yaml --platform linux/amd64,linux/arm64 --docker-config ~/.docker/config.json
  kustomize build overlays/prod | pullguard check -f - -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheck(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "manifest file, directory (recursive) or - for stdin; repeatable")
	f.StringVar(&o.policyFile, "policy", "", "file of ImagePolicy documents, all used with the webhook's precedence (default: the built-in policy)")
	f.StringSliceVar(&o.platforms, "platform", []string{defaultPlatform}, "os/arch[/variant][:osversion] platforms of the cluster's nodes, comma separated (windows/amd64:10.0.17763)")
	f.StringVar(&o.dockerConfig, "docker-config", "", "docker config with registry credentials, matched and tried as the kubelet does (a .dockercfg file in the legacy layout, any other name in the auths layout)")
	o.providers.add(f)
	addNodeRegistryConfigFlag(f, &o.nodeRegistryConfig)
	addRegistryProxyFlag(f, &o.registryProxy)
	f.StringVar(&o.registryCAFile, "registry-ca-file", "", "PEM CA certificates trusted for registries, on top of the system's")
	f.StringArrayVar(&o.insecureRegistries, "insecure-registry", nil, "registry host[:port] reachable over plain HTTP or unverified TLS; repeatable")
	f.DurationVar(&o.timeout, "timeout", defaultCheckTimeout, "time budget to resolve the images of one object")
	f.StringVarP(&o.output, "output", "o", "text", "output format: "+strings.Join(checkOutputs, ", "))
	f.StringVar(&o.failOn, "fail-on", failOnDeny, "exit 1 on: deny (a denial), or warn (a denial, a warning, or an image not verified)")
	return cmd
}

// checkRun is everything runCheck prepared from the flags.
type checkRun struct {
	// policies are the --policy file's, or none (the built-in default).
	policies *policies.Set
	// nodes stand for the cluster's nodes, one per --platform.
	nodes       []corev1.Node
	credentials resolve.Credentials
	// lookups gives each policy's network allowance its resolver, as serve does.
	lookups func(v1alpha1.Network) resolve.Lookup
	docs    []manifest.Document
}

func runCheck(cmd *cobra.Command, o *checkOptions) error {
	run, err := prepareCheck(cmd, o)
	if err != nil {
		return err
	}
	report, err := checkDocuments(cmd.Context(), run, o.timeout)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	switch o.output {
	case "json":
		err = report.writeJSON(out)
	case "github":
		err = report.writeGitHub(out)
	case "sarif":
		err = report.writeSARIF(out)
	case "junit":
		err = report.writeJUnit(out)
	default:
		err = report.writeText(out)
	}
	if err != nil {
		return err
	}
	s := report.Summary
	if s.Denied > 0 || (o.failOn == failOnWarn && (s.Warnings > 0 || s.Unverified > 0)) {
		return errDenied
	}
	return nil
}

func prepareCheck(cmd *cobra.Command, o *checkOptions) (*checkRun, error) {
	if len(o.files) == 0 {
		return nil, usageError("no input: give at least one -f FILE|DIR|-")
	}
	if !slices.Contains(checkOutputs, o.output) {
		return nil, usageError("--output must be one of %s, not %q", strings.Join(checkOutputs, ", "), o.output)
	}
	if o.failOn != failOnDeny && o.failOn != failOnWarn {
		return nil, usageError("--fail-on must be %s or %s, not %q", failOnDeny, failOnWarn, o.failOn)
	}
	if o.timeout <= 0 {
		return nil, usageError("--timeout must be positive, not %s", o.timeout)
	}
	for _, h := range o.insecureRegistries {
		if err := validateRegistryHost(h); err != nil {
			return nil, usageError("--insecure-registry %q: %w", h, err)
		}
	}
	nodes, err := platformNodes(o.platforms)
	if err != nil {
		return nil, err
	}
	set, err := loadPolicies(o.policyFile)
	if err != nil {
		return nil, err
	}
	if err := o.providers.validate(); err != nil {
		return nil, err
	}
	var chains []*keychain.Keychain
	if o.dockerConfig != "" {
		data, err := os.ReadFile(o.dockerConfig)
		if err != nil {
			return nil, usageError("reading docker config: %w", err)
		}
		cfg, err := keychain.Parse(data, "docker config "+o.dockerConfig, keychain.FileFormat(o.dockerConfig))
		if err != nil {
			return nil, usageError("docker config %s: %w", o.dockerConfig, err)
		}
		// One keyring, as the kubelet reads a node's config.json: every
		// matching entry is tried, most specific first.
		chains = append(chains, keychain.New(cfg))
	}
	plugins, err := o.providers.load()
	if err != nil {
		return nil, err
	}
	if plugins != nil {
		// After the docker config, as the kubelet asks its plugins after
		// the node's config.json.
		chains = append(chains, keychain.FromProvider(plugins))
	}
	var creds resolve.Credentials
	if len(chains) > 0 {
		creds = keychain.Union(chains...)
	}
	docs, err := manifest.Read(o.files, cmd.InOrStdin())
	if err != nil {
		return nil, usageError("%w", err)
	}
	rootCAs, err := registryRootCAs(o.registryCAFile)
	if err != nil {
		return nil, err
	}
	proxy, err := registryProxy(o.registryProxy)
	if err != nil {
		return nil, err
	}
	guard := addressguard.Config{
		// check runs next to the developer or CI job, where a registry on
		// loopback is the developer's own; the webhook keeps it off by default.
		AllowLoopback:      true,
		InsecureRegistries: o.insecureRegistries,
		RootCAs:            rootCAs,
		Proxy:              proxy,
	}
	nodeHosts, err := loadNodeHosts(o.nodeRegistryConfig)
	if err != nil {
		return nil, err
	}
	lookups, err := newNetworkResolvers(guard, nodeHosts, o.timeout, resolve.DefaultTagStaleness, nil, logr.Discard())
	if err != nil {
		return nil, err
	}
	return &checkRun{policies: set, nodes: nodes, credentials: creds, lookups: lookups.Lookup, docs: docs}, nil
}

// loadPolicies reads every ImagePolicy of the --policy file (multi-document
// YAML, a JSON stream or a List), or none for "". Every document is used,
// each namespace decided by the webhook's rule of precedence; a document
// that is not a valid ImagePolicy, or a name given twice, fails the run
// rather than leaving a policy out.
func loadPolicies(file string) (*policies.Set, error) {
	if file == "" {
		return policies.NewSet(nil), nil
	}
	if file == "-" {
		return nil, usageError("--policy: give a file (stdin is for -f -)")
	}
	docs, err := manifest.Read([]string{file}, nil)
	if err != nil {
		return nil, usageError("reading policy: %w", err)
	}
	if len(docs) == 0 {
		return nil, usageError("policy %s: no ImagePolicy in it", file)
	}
	seen := map[string]int{}
	var out []*policies.Policy
	for _, d := range docs {
		p, err := policies.Load(d.Raw)
		if err != nil {
			return nil, usageError("policy %s:%d: %w", d.Source, d.Line, err)
		}
		if line, dup := seen[p.Name()]; dup {
			return nil, usageError("policy %s:%d: a second ImagePolicy named %q (the first is on line %d); names are unique, as in a cluster", d.Source, d.Line, p.Name(), line)
		}
		seen[p.Name()] = d.Line
		out = append(out, p)
	}
	return policies.NewSet(out), nil
}

// namespaceLabels are the labels of the Namespace objects among docs, by
// name: the labels the policies select on. A namespace the manifests do
// not create has only the label the API server gives every namespace.
func namespaceLabels(docs []manifest.Document) func(string) map[string]string {
	known := map[string]map[string]string{}
	for _, d := range docs {
		var ns corev1.Namespace
		if json.Unmarshal(d.Raw, &ns) != nil || ns.APIVersion != "v1" || ns.Kind != "Namespace" || ns.Name == "" {
			continue
		}
		l := maps.Clone(ns.Labels)
		if l == nil {
			l = map[string]string{}
		}
		l[corev1.LabelMetadataName] = ns.Name
		known[ns.Name] = l
	}
	return func(name string) map[string]string {
		if l, ok := known[name]; ok {
			return l
		}
		return map[string]string{corev1.LabelMetadataName: name}
	}
}

// platformNodes builds a synthetic node for each --platform, so that the
// pods' selectors, affinity and tolerations are judged by the scheduler's
// rules as the webhook judges them against real nodes.
func platformNodes(specs []string) ([]corev1.Node, error) {
	var out []corev1.Node
	for _, s := range specs {
		if strings.TrimSpace(s) == "" {
			continue
		}
		p, err := image.ParsePlatform(s)
		if err != nil {
			return nil, usageError("--platform: %w", err)
		}
		out = append(out, cluster.SyntheticNode(p))
	}
	if len(out) == 0 {
		return nil, usageError("--platform: give at least one os/arch")
	}
	return out, nil
}

// checkDocuments decides every workload document, checkParallelism at a time,
// keeping the input order in the report.
func checkDocuments(ctx context.Context, run *checkRun, timeout time.Duration) (*checkReport, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	type job struct {
		doc  manifest.Document
		obj  workload.Object
		uses []workload.ImageUse
	}
	jobs := make([]job, 0, len(run.docs))
	for _, doc := range run.docs {
		obj, uses, err := workload.Images(doc.Raw)
		if errors.Is(err, workload.ErrNotWorkload) {
			continue
		}
		if err != nil {
			return nil, usageError("%s:%d: %w", doc.Source, doc.Line, err)
		}
		if obj.Namespace == "" {
			// kubectl apply puts a namespaced object without one in "default".
			obj.Namespace = "default"
		}
		jobs = append(jobs, job{doc: doc, obj: obj, uses: uses})
	}
	labelsOf := namespaceLabels(run.docs)
	decisions := make([]policies.Decision, len(jobs))
	var g errgroup.Group
	g.SetLimit(checkParallelism)
	for i := range jobs {
		g.Go(func() error {
			octx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			policy := run.policies.For(labelsOf(jobs[i].obj.Namespace))
			setting, _ := decide.SettingFor(octx, offlineCluster{run}, jobs[i].obj.Namespace, jobs[i].uses, run.lookups(policy.Network()))
			decisions[i] = decide.Decide(octx, policy, jobs[i].obj, jobs[i].uses, setting)
			return nil
		})
	}
	_ = g.Wait() // the jobs report through decisions; none returns an error
	report := &checkReport{Findings: []jsonFinding{}, Rewrites: []jsonRewrite{}}
	for i, j := range jobs {
		report.add(j.doc, j.obj, j.uses, decisions[i])
	}
	return report, nil
}

// offlineCluster is the cluster check stands in for: the credentials of
// its flags for every pod, and the nodes of --platform filtered per pod as
// the webhook's cluster view filters real ones. It never fails.
type offlineCluster struct{ run *checkRun }

func (c offlineCluster) Credentials(context.Context, string, *workload.PodContext) (resolve.Credentials, error) {
	return c.run.credentials, nil
}

func (c offlineCluster) Nodes(_ context.Context, pod *workload.PodContext) ([]policies.Node, error) {
	return cluster.CandidateNodes(logr.Discard(), c.run.nodes, pod), nil
}
