//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/policies/v1alpha1"
	"github.com/pullguard/pullguard/test/bed"
	"github.com/pullguard/pullguard/webhook"
)

// Namespaces of the real node's bed. Each scenario runs twice: in
// rnIgnored, which pullguard never sees (what really happens), and in its
// guarded namespace (what pullguard says, and then what happens to what it
// admitted).
const (
	rnIgnored = "rn-ignored" // labelled webhook.OptOutLabel
	rnGuarded = "rn-guarded" // the built-in policy
	rnPin     = "rn-pin"     // policy rn-pin: pinDigests TagAndDigest
	rnMirror  = "rn-mirror"  // policy rn-mirror: rn/src/ through rn/mirror/
	rnLayers  = "rn-layers"  // policy rn-layers: verify Layers
)

// Pull secrets and service accounts in rnIgnored and rnGuarded.
const (
	rnGood    = "regcred"       // the private registry's user and password
	rnWrong   = "regcred-wrong" // the same user, a wrong password
	rnPuller  = "puller"        // service account naming rnGood
	rnPullerW = "puller-wrong"  // service account naming rnWrong
)

// Outcomes a pod reaches on the real node.
const (
	outRunning      = "Running"
	outErrImagePull = "ErrImagePull" // or ImagePullBackOff: the pull failed
	outInvalidName  = "InvalidImageName"
	outCrashLoop    = "CrashLoopBackOff"  // pulled, then the container exits non-zero
	outNeverPull    = "ErrImageNeverPull" // imagePullPolicy Never, image not on the node
	outCompleted    = "Completed"         // every container exited 0 (restartPolicy Never)
)

// realOutcomeTimeout bounds the wait for one pod's outcome (REALNODE.md:
// 1-3 s usually; a crash needs its first restart).
const realOutcomeTimeout = 2 * time.Minute

// realRunningFor is how long every container must run, unrestarted, to
// count as Running (a container of another architecture starts, then exits).
const realRunningFor = 5 * time.Second

// realBed is the bed with the real node, started by TestRealNode.
type realBed struct {
	*bed.Bed
	// down is an address nothing listens on: an unreachable registry.
	down string
	// Registries in trouble (startTroubleRegistry): every answer is 429
	// TOOMANYREQUESTS, 403 DENIED or 500.
	rateLimited, forbidden, broken string
}

// pub and priv are references on the bed's registries.
func (r *realBed) pub(repo, tag string) string  { return r.Public.Ref(repo, tag) }
func (r *realBed) priv(repo, tag string) string { return r.Private.Ref(repo, tag) }

// realImages are the images the scenarios name, all runnable: each
// platform's image runs the pause program built for its architecture.
func realImages(b *bed.Bed) []bed.Image {
	pub, priv, progs := b.Public, b.Private, b.Programs
	amd64 := []v1.Platform{bed.AMD64}
	img := func(reg *bed.Registry, repo, tag string, ps ...v1.Platform) bed.Image {
		return bed.Image{Registry: reg, Repo: repo, Tag: tag, Platforms: ps, Programs: progs}
	}
	index := func(repo string, ps ...v1.Platform) bed.Image {
		im := img(pub, repo, "v1", ps...)
		im.Index = true
		return im
	}
	return []bed.Image{
		img(pub, "rn/app", "v1", amd64...),
		img(pub, "rn/latest", "latest", amd64...),
		img(pub, "rn/init", "v1", amd64...),
		img(pub, "rn/init-main", "v1", amd64...),
		img(pub, "rn/digest", "v1", amd64...),
		img(pub, "rn/tag-digest", "v1", amd64...),
		img(pub, "rn/tag-digest-gone", "v1", amd64...),
		index("rn/multi", bed.AMD64, bed.ARM64),
		index("rn/arm64-index", bed.ARM64),
		img(pub, "rn/arm64-single", "v1", bed.ARM64),
		img(pub, "rn/i386-single", "v1", bed.I386),
		index("rn/i386-index", bed.I386),
		index("rn/pin", bed.AMD64, bed.ARM64),
		index("rn/src/app", bed.AMD64, bed.ARM64),
		{Registry: pub, Repo: "rn/mirror/app", Tag: "v1", CopyOf: pub.Ref("rn/src/app", "v1")},
		img(pub, "rn/never", "v1", amd64...),
		img(pub, "rn/deploy", "v1", amd64...),
		img(pub, "rn/deploy", "v2", amd64...),
		img(priv, "rn/private", "v1", amd64...),
		lost(index("rn/lost-entry", bed.AMD64, bed.ARM64), bed.LoseEntry),
		lost(index("rn/lost-other-entry", bed.ARM64, bed.AMD64), bed.LoseEntry),
		lost(img(pub, "rn/lost-config", "v1", amd64...), bed.LoseConfig),
		lost(img(pub, "rn/lost-layer", "v1", amd64...), bed.LoseLayer),
		lost(index("rn/lost-entry-layer", bed.AMD64, bed.ARM64), bed.LoseLayer),
	}
}

// lost is im with part of it deleted from its registry after the push.
func lost(im bed.Image, what bed.Loss) bed.Image {
	im.Lose = what
	return im
}

// realScenario is one pod judged twice: its reality and pullguard's verdict.
type realScenario struct {
	name string
	// ns is the guarded run's namespace (rnGuarded when "").
	ns string
	// spec builds the pod's spec; the harness adds hostNetwork and the rest.
	spec func(r *realBed) corev1.PodSpec
	// want is what really happens (REALNODE.md's observations): the test
	// fails when reality differs, as the scenario would not test what it
	// says. It is never changed to match pullguard.
	want string
	// cause is what `pullguard diagnose` must say of the pod stuck in
	// rnIgnored ("" when it runs). Content the registry lost is
	// CorruptedContent in the registry; a single image of another
	// architecture PlatformMismatch (its fix is the build).
	cause string
}

// container is one container of image, always pulled (both runs of a
// scenario pull for themselves, not from what the other pulled).
func container(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullAlways}
}

// one is a pod spec of one container "c".
func one(image func(r *realBed) string) func(r *realBed) corev1.PodSpec {
	return func(r *realBed) corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{container("c", image(r))}}
	}
}

func withSecrets(image func(r *realBed) string, secrets ...string) func(r *realBed) corev1.PodSpec {
	return func(r *realBed) corev1.PodSpec {
		s := one(image)(r)
		for _, name := range secrets {
			s.ImagePullSecrets = append(s.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
		}
		return s
	}
}

func withServiceAccount(image func(r *realBed) string, sa string) func(r *realBed) corev1.PodSpec {
	return func(r *realBed) corev1.PodSpec {
		s := one(image)(r)
		s.ServiceAccountName = sa
		return s
	}
}

func withInit(initImage, mainImage func(r *realBed) string) func(r *realBed) corev1.PodSpec {
	return func(r *realBed) corev1.PodSpec {
		s := one(mainImage)(r)
		ini := container("init", initImage(r))
		ini.Args = []string{"exit"}
		s.InitContainers = []corev1.Container{ini}
		return s
	}
}

// never is spec with imagePullPolicy Never: the kubelet runs what the node
// holds and pulls nothing.
func never(spec func(r *realBed) corev1.PodSpec) func(r *realBed) corev1.PodSpec {
	return func(r *realBed) corev1.PodSpec {
		s := spec(r)
		for i := range s.Containers {
			s.Containers[i].ImagePullPolicy = corev1.PullNever
		}
		return s
	}
}

func pubImage(repo, tag string) func(r *realBed) string {
	return func(r *realBed) string { return r.pub(repo, tag) }
}

func privImage(repo, tag string) func(r *realBed) string {
	return func(r *realBed) string { return r.priv(repo, tag) }
}

// byDigest is repo@digest of the pushed repo:v1; withTag keeps tag in front.
func byDigest(repo, tag string) func(r *realBed) string {
	return func(r *realBed) string {
		d := r.Digests[r.pub(repo, "v1")]
		if tag == "" {
			return r.Public.Host + "/" + repo + "@" + d.String()
		}
		return r.pub(repo, tag) + "@" + d.String()
	}
}

var zeroDigest = "sha256:" + strings.Repeat("0", 64)

var realScenarios = []realScenario{
	{name: "tag", spec: one(pubImage("rn/app", "v1")), want: outRunning},
	{name: "explicit-latest", spec: one(pubImage("rn/latest", "latest")), want: outRunning},
	{name: "missing-tag", spec: one(pubImage("rn/app", "does-not-exist")), want: outErrImagePull, cause: "NotFound"},
	{name: "missing-repo", spec: one(pubImage("rn/nosuchrepo", "v1")), want: outErrImagePull, cause: "NotFound"},
	{name: "missing-digest", spec: one(func(r *realBed) string { return r.Public.Host + "/rn/app@" + zeroDigest }), want: outErrImagePull, cause: "NotFound"},
	{name: "invalid-reference", spec: one(pubImage("rn/App", "v1")), want: outInvalidName, cause: "InvalidReference"},
	{name: "unreachable-registry", spec: one(func(r *realBed) string { return r.down + "/rn/app:v1" }), want: outErrImagePull, cause: "Unreachable"},
	{name: "rate-limited-registry", spec: one(func(r *realBed) string { return r.rateLimited + "/rn/app:v1" }), want: outErrImagePull, cause: "RateLimited"},
	{name: "forbidden-registry", spec: one(func(r *realBed) string { return r.forbidden + "/rn/app:v1" }), want: outErrImagePull, cause: "Forbidden"},
	{name: "registry-error-500", spec: one(func(r *realBed) string { return r.broken + "/rn/app:v1" }), want: outErrImagePull, cause: "Unreachable"},
	{name: "digest", spec: one(byDigest("rn/digest", "")), want: outRunning},
	{name: "tag-and-digest", spec: one(byDigest("rn/tag-digest", "v1")), want: outRunning},
	// containerd pulls by the digest and never asks for the tag.
	{name: "tag-gone-and-digest", spec: one(byDigest("rn/tag-digest-gone", "v9")), want: outRunning},
	{name: "multi-arch-index", spec: one(pubImage("rn/multi", "v1")), want: outRunning},
	{name: "arm64-only-index", spec: one(pubImage("rn/arm64-index", "v1")), want: outErrImagePull, cause: "PlatformMismatch"},
	// containerd does not check a single manifest's platform: it pulls,
	// then the kernel refuses to execute the binary.
	{name: "arm64-single-manifest", spec: one(pubImage("rn/arm64-single", "v1")), want: outCrashLoop, cause: "PlatformMismatch"},
	// 386 binaries run on amd64: a single manifest of linux/386 pulls
	// (unchecked, as above) and runs.
	{name: "386-single-manifest", spec: one(pubImage("rn/i386-single", "v1")), want: outRunning},
	// An index with only linux/386 does not pull on linux/amd64: containerd
	// 2.4 fetches no manifest of it, then fails on the config ("get image
	// config descriptor: content digest sha256:…: not found").
	{name: "386-only-index", spec: one(pubImage("rn/i386-index", "v1")), want: outErrImagePull, cause: "PlatformMismatch"},
	{name: "private-no-credentials", spec: one(privImage("rn/private", "v1")), want: outErrImagePull, cause: "Unauthorized"},
	{name: "private-pod-secret", spec: withSecrets(privImage("rn/private", "v1"), rnGood), want: outRunning},
	{name: "private-wrong-password", spec: withSecrets(privImage("rn/private", "v1"), rnWrong), want: outErrImagePull, cause: "Unauthorized"},
	{name: "private-missing-tag-good-secret", spec: withSecrets(privImage("rn/private", "nope"), rnGood), want: outErrImagePull, cause: "NotFound"},
	{name: "private-service-account", spec: withServiceAccount(privImage("rn/private", "v1"), rnPuller), want: outRunning},
	{name: "private-service-account-wrong", spec: withServiceAccount(privImage("rn/private", "v1"), rnPullerW), want: outErrImagePull, cause: "Unauthorized"},
	// The kubelet tries each matching secret in order until one pulls.
	{name: "private-wrong-then-right-secret", spec: withSecrets(privImage("rn/private", "v1"), rnWrong, rnGood), want: outRunning},
	{name: "private-right-then-wrong-secret", spec: withSecrets(privImage("rn/private", "v1"), rnGood, rnWrong), want: outRunning},
	{name: "init-container", spec: withInit(pubImage("rn/init", "v1"), pubImage("rn/init-main", "v1")), want: outRunning},
	{name: "init-container-missing-tag", spec: withInit(pubImage("rn/init", "nope"), pubImage("rn/init-main", "v1")), want: outErrImagePull, cause: "NotFound"},
	// imagePullPolicy Never: only what the node holds runs. The sandbox
	// image is on the node (containerd pins it); rn/never was never pulled.
	{name: "never-pull-present", spec: never(one(pubImage(bed.PauseRepo, bed.PauseTag))), want: outRunning},
	{name: "never-pull-absent", spec: never(one(pubImage("rn/never", "v1"))), want: outNeverPull, cause: "NotPresent"},
	// The registry lost part of the image (bed.Loss): a pull fails on
	// the first blob or manifest it cannot fetch, and only there.
	{name: "lost-entry", spec: one(pubImage("rn/lost-entry", "v1")), want: outErrImagePull, cause: "CorruptedContent"},
	{name: "lost-entry-of-another-platform", spec: one(pubImage("rn/lost-other-entry", "v1")), want: outRunning},
	{name: "lost-config", spec: one(pubImage("rn/lost-config", "v1")), want: outErrImagePull, cause: "CorruptedContent"},
	// Layers are only asked for at spec.verify Layers.
	{name: "lost-layer", ns: rnLayers, spec: one(pubImage("rn/lost-layer", "v1")), want: outErrImagePull, cause: "CorruptedContent"},
	{name: "lost-entry-layer", ns: rnLayers, spec: one(pubImage("rn/lost-entry-layer", "v1")), want: outErrImagePull, cause: "CorruptedContent"},
	// The rewritten pods must really run.
	{name: "pinned", ns: rnPin, spec: one(pubImage("rn/pin", "v1")), want: outRunning},
	{name: "mirrored", ns: rnMirror, spec: one(pubImage("rn/src/app", "v1")), want: outRunning},
}

// realVerdict is what pullguard answered one `kubectl apply`.
type realVerdict struct {
	denied   bool
	message  string   // the denial
	warnings []string // kubectl's Warning: lines
	rewrites []string // "written -> stored" per changed image
}

func (v realVerdict) String() string {
	switch {
	case v.denied:
		return "denied " + strings.Join(findingClasses(v.message), ",")
	case len(v.rewrites) > 0 && len(v.warnings) > 0:
		return "mutated+warned"
	case len(v.rewrites) > 0:
		return "mutated"
	case len(v.warnings) > 0:
		return "warned"
	}
	return "allowed"
}

var findingClass = regexp.MustCompile(`\[[A-Za-z]+\]`)

// findingClasses are the distinct "[Class]" markers of a denial.
func findingClasses(msg string) []string {
	var out []string
	for _, c := range findingClass.FindAllString(msg, -1) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// realResult is one scenario's line of the table.
type realResult struct {
	name, want        string
	reality, event    string // in rnIgnored
	verdict           realVerdict
	admitted, admEvnt string // the guarded pod's outcome, when admitted
	judgement         string // "ok", "FALSE DENY", ...
}

// TestRealNode judges pullguard against a real kubelet and containerd:
// every scenario's pod runs once where pullguard does not look and once
// through its webhooks, and a refusal of what ran (false deny) or a silent
// admission of what failed (false allow) fails the test.
func TestRealNode(t *testing.T) {
	t.Parallel()
	r := startRealBed(t)
	r.rateLimited = r.startTroubleRegistry(t, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	r.forbidden = r.startTroubleRegistry(t, http.StatusForbidden, "DENIED")
	r.broken = r.startTroubleRegistry(t, http.StatusInternalServerError, "UNKNOWN")

	results := make([]realResult, len(realScenarios))
	t.Run("scenarios", func(t *testing.T) {
		for i, sc := range realScenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				results[i] = r.runScenario(t, sc)
			})
		}
	})
	printRealTable(t, results)
	t.Run("diagnose", func(t *testing.T) { r.testDiagnose(t, results) })

	t.Run("deployment-rollout", func(t *testing.T) {
		r.testRollout(t)
		// The rollout ends on a missing tag where pullguard does not look:
		// diagnose the Deployment, which means its current pods.
		r.testDiagnoseWorkload(t, "deployment/rollout", "NotFound")
	})
	t.Run("job", func(t *testing.T) { r.testJob(t) })
}

// startRealBed starts a bed of its own with the real node, or skips the
// test with the one reason the machine cannot run it.
func startRealBed(t *testing.T) *realBed {
	t.Helper()
	if err := bed.NodeSupport(); err != nil {
		t.Skipf("real node: skipped: this machine cannot run a kubelet and containerd: %v", err)
	}
	nodeBins, err := bed.NodeBinariesFromEnv()
	if err != nil {
		t.Skipf("real node: skipped: %v", err)
	}
	bins, err := bed.BinariesFromEnv(filepath.Join("..", "..", "bin", "pullguard"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pullguard-realnode-")
	if err != nil {
		t.Fatal(err)
	}
	r := &realBed{}
	if r.down, err = bed.ClosedAddress(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r.Bed, err = bed.Start(context.Background(), bed.Options{
		Dir:         dir,
		Binaries:    bins,
		CRDDir:      filepath.Join("..", "..", "policies", "crd"),
		PrivateUser: "rn-bot",
		Node:        &bed.NodeOptions{Binaries: nodeBins},
		NodeImages:  realImages,
		Prepare:     createRealObjects,
		Probe: func(b *bed.Bed) *corev1.Pod {
			return pod("probe", rnGuarded, b.Public.Host+"/rn/probe")
		},
		Progress: os.Stderr,
	})
	t.Cleanup(func() {
		if t.Failed() {
			r.DumpLogs(os.Stderr, 20000)
		}
		if err := r.Stop(); err != nil {
			t.Errorf("stop the real node's bed: %v", err)
		}
		if os.Getenv("PULLGUARD_E2E_KEEP") == "" {
			_ = os.RemoveAll(dir)
		}
	})
	if err != nil {
		t.Fatalf("start the real node's bed: %v", err)
	}
	t.Logf("real node %q Ready; bed started in %s", r.Node.Name, time.Since(start).Round(time.Millisecond))
	return r
}

// createRealObjects makes the namespaces, secrets, service accounts and
// policies of the scenarios.
func createRealObjects(ctx context.Context, b *bed.Bed) error {
	c := b.API.Client
	for ns, labels := range map[string]map[string]string{
		rnIgnored: {webhook.OptOutLabel: "true"},
		rnGuarded: nil,
		rnPin:     {caseLabel: "rn-pin"},
		rnMirror:  {caseLabel: "rn-mirror"},
		rnLayers:  {caseLabel: "rn-layers"},
	} {
		if err := bed.CreateNamespace(ctx, c, ns, labels); err != nil {
			return err
		}
	}
	for _, ns := range []string{rnIgnored, rnGuarded} {
		good, err := b.Private.PullSecret(ns, rnGood)
		if err != nil {
			return err
		}
		wrongReg := *b.Private
		wrongReg.Password = "not-" + b.Private.Password
		wrong, err := wrongReg.PullSecret(ns, rnWrong)
		if err != nil {
			return err
		}
		objs := []client.Object{good, wrong,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: rnPuller, Namespace: ns},
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: rnGood}}},
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: rnPullerW, Namespace: ns},
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: rnWrong}}},
		}
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("%T %s/%s: %w", o, ns, o.GetName(), err)
			}
		}
	}
	selecting := func(name string) *v1alpha1.ImagePolicy {
		return &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.ImagePolicySpec{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{caseLabel: name},
			}},
		}
	}
	pin := selecting("rn-pin")
	pin.Spec.PinDigests = v1alpha1.PinTagAndDigest
	mirror := selecting("rn-mirror")
	mirror.Spec.Mirrors = []v1alpha1.Mirror{{
		From: v1alpha1.RegistryPrefix(b.Public.Host + "/rn/src"),
		To:   v1alpha1.RegistryPrefix(b.Public.Host + "/rn/mirror"),
	}}
	layers := selecting("rn-layers")
	layers.Spec.Verify = v1alpha1.VerifyLayers
	for _, p := range []*v1alpha1.ImagePolicy{pin, mirror, layers} {
		if err := c.Create(ctx, p); err != nil {
			return fmt.Errorf("image policy %q: %w", p.Name, err)
		}
	}
	return nil
}

// realPod is the scenario's pod in ns: hostNetwork (no pod network), no
// service account token (no token controller), quick to stop.
func realPod(ns, name string, spec corev1.PodSpec) *corev1.Pod {
	one := int64(1)
	no := false
	spec.HostNetwork = true
	spec.AutomountServiceAccountToken = &no
	spec.TerminationGracePeriodSeconds = &one
	spec.RestartPolicy = corev1.RestartPolicyAlways
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       spec,
	}
}

// runScenario applies the scenario's pod in both namespaces at once, then
// watches both on the node, and judges.
func (r *realBed) runScenario(t *testing.T, sc realScenario) realResult {
	ns := sc.ns
	if ns == "" {
		ns = rnGuarded
	}
	name := "rn-" + sc.name
	spec := sc.spec(r)
	res := realResult{name: sc.name, want: sc.want}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ign := runKubectl(t, r.Kubectl, toYAML(t, realPod(rnIgnored, name, spec)), "apply", "-f", "-")
		if ign.Code != 0 {
			t.Errorf("the pod is refused where pullguard does not look:\n%s", ign)
			res.reality = "not created"
			return
		}
		res.reality, res.event = r.observe(t, rnIgnored, name)
	}()

	g := runKubectl(t, r.Kubectl, toYAML(t, realPod(ns, name, spec)), "apply", "-f", "-")
	res.verdict = realVerdict{warnings: g.Warnings()}
	if g.Code != 0 {
		if !strings.Contains(g.Output(), "denied the request") {
			t.Errorf("apply failed, but not by a denial:\n%s", g)
		}
		res.verdict.denied = true
		res.verdict.message = strings.TrimSpace(g.Stderr)
	} else {
		res.verdict.rewrites = r.rewrites(t, ns, name, spec)
		res.admitted, res.admEvnt = r.observe(t, ns, name)
	}
	wg.Wait()

	ran := res.reality == outRunning
	admittedSilently := !res.verdict.denied && len(res.verdict.warnings) == 0
	var problems []string
	if res.reality != sc.want {
		problems = append(problems, "REALITY "+res.reality+" (want "+sc.want+")")
		t.Errorf("reality: the pod ended %s, the scenario expects %s (kubelet: %s): the bed does not set up what the scenario says",
			res.reality, sc.want, res.event)
	}
	if ran && res.verdict.denied {
		problems = append(problems, "FALSE DENY")
		t.Errorf("FALSE DENY: the pod runs on the real node, pullguard refused it:\n%s", res.verdict.message)
	}
	if !ran && admittedSilently {
		problems = append(problems, "FALSE ALLOW")
		t.Errorf("FALSE ALLOW: the real node ends the pod in %s (kubelet: %s), pullguard admitted it without a warning (%s)",
			res.reality, res.event, res.verdict)
	}
	if ran && res.admitted != "" && res.admitted != outRunning {
		problems = append(problems, "ADMITTED POD FAILED")
		t.Errorf("the pod runs as written, but the pod pullguard admitted (%s, %v) ends %s (kubelet: %s)",
			res.verdict, res.verdict.rewrites, res.admitted, res.admEvnt)
	}
	res.judgement = "ok"
	if len(problems) > 0 {
		res.judgement = strings.Join(problems, ", ")
	}
	return res
}

// rewrites lists the images pullguard changed in the stored pod.
func (r *realBed) rewrites(t *testing.T, ns, name string, spec corev1.PodSpec) []string {
	t.Helper()
	var p corev1.Pod
	if err := r.API.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &p); err != nil {
		t.Fatalf("read the admitted pod: %v", err)
	}
	var out []string
	pairs := func(written, stored []corev1.Container) {
		for i := range written {
			if i < len(stored) && stored[i].Image != written[i].Image {
				out = append(out, written[i].Image+" -> "+stored[i].Image)
			}
		}
	}
	pairs(spec.InitContainers, p.Spec.InitContainers)
	pairs(spec.Containers, p.Spec.Containers)
	return out
}

// observe waits for the pod's outcome on the node and returns it with the
// kubelet's event that says so.
func (r *realBed) observe(t *testing.T, ns, name string) (outcome, event string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), realOutcomeTimeout)
	defer cancel()
	var runningSince time.Time
	var last string
	for {
		var p corev1.Pod
		err := r.API.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &p)
		if err == nil {
			outcome, last = podOutcome(&p)
			if outcome == outRunning {
				if runningSince.IsZero() {
					runningSince = time.Now()
				}
				if time.Since(runningSince) < realRunningFor {
					outcome = ""
				}
			} else {
				runningSince = time.Time{}
			}
			if outcome != "" {
				return outcome, r.kubeletEvent(ctx, ns, name, outcome)
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Errorf("pod %s/%s: no outcome after %s (last: %s)", ns, name, realOutcomeTimeout, last)
			return "no outcome", last
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// podOutcome reads the pod's status as REALNODE.md says the kubelet shows
// it: a waiting reason of a failed pull or name, restarts of a container
// that exits (the status may say Error, not CrashLoopBackOff, between
// restarts), or every container running. "" is not decided yet.
func podOutcome(p *corev1.Pod) (outcome, state string) {
	statuses := append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		if w := s.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff":
				return outErrImagePull, w.Message
			case "InvalidImageName":
				return outInvalidName, w.Message
			case "CrashLoopBackOff":
				return outCrashLoop, w.Message
			case "ErrImageNeverPull":
				return outNeverPull, w.Message
			}
		}
		if s.RestartCount > 0 {
			return outCrashLoop, fmt.Sprintf("container %s restarted %d times", s.Name, s.RestartCount)
		}
		if term := s.State.Terminated; term != nil && term.ExitCode != 0 && p.Spec.RestartPolicy != corev1.RestartPolicyNever {
			return outCrashLoop, fmt.Sprintf("container %s exited %d (%s)", s.Name, term.ExitCode, term.Reason)
		}
	}
	if p.Status.Phase == corev1.PodSucceeded {
		return outCompleted, "succeeded"
	}
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return "", fmt.Sprintf("phase %s, statuses %v", p.Status.Phase, statuses)
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running == nil {
			return "", fmt.Sprintf("container %s not running: %+v", s.Name, s.State)
		}
	}
	return outRunning, "running"
}

// kubeletEvent is the kubelet's event for the outcome: the pull failure,
// the name it could not parse, the back-off of a crashing container, or
// the successful pull. It waits a little for the event to be stored.
func (r *realBed) kubeletEvent(ctx context.Context, ns, name, outcome string) string {
	want := map[string][]string{
		outErrImagePull: {"Failed to pull image"},
		outInvalidName:  {"Failed to apply default image tag", "InvalidImageName"},
		outCrashLoop:    {"Back-off restarting failed container"},
		outNeverPull:    {"is not present with pull policy of Never"},
		outRunning:      {"Successfully pulled image", "already present"},
		outCompleted:    {"Successfully pulled image", "already present"},
	}[outcome]
	deadline := time.Now().Add(10 * time.Second)
	for {
		var evs corev1.EventList
		_ = r.API.Client.List(ctx, &evs, client.InNamespace(ns), client.MatchingFields{"involvedObject.name": name})
		slices.SortFunc(evs.Items, func(a, b corev1.Event) int { return a.FirstTimestamp.Compare(b.FirstTimestamp.Time) })
		for _, e := range evs.Items {
			for _, w := range want {
				if strings.Contains(e.Message, w) {
					return e.Reason + ": " + e.Message
				}
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			var all []string
			for _, e := range evs.Items {
				all = append(all, e.Reason+": "+e.Message)
			}
			return "(no matching kubelet event; events: " + strings.Join(all, " | ") + ")"
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// printRealTable writes the verdict next to reality, one line a scenario,
// then each kubelet event and denial in full.
func printRealTable(t *testing.T, results []realResult) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "scenario\treality (unguarded)\tpullguard\tadmitted pod\tjudgement")
	for _, r := range results {
		adm := r.admitted
		if adm == "" {
			adm = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.name, r.reality, r.verdict, adm, r.judgement)
	}
	w.Flush()
	b.WriteString("\nkubelet events and pullguard's answers:\n")
	for _, r := range results {
		fmt.Fprintf(&b, "- %s\n    kubelet: %s\n", r.name, r.event)
		switch {
		case r.verdict.denied:
			fmt.Fprintf(&b, "    pullguard: %s\n", strings.ReplaceAll(r.verdict.message, "\n", "\n      "))
		default:
			for _, wl := range r.verdict.warnings {
				fmt.Fprintf(&b, "    pullguard: %s\n", wl)
			}
			for _, rw := range r.verdict.rewrites {
				fmt.Fprintf(&b, "    pullguard rewrote: %s\n", rw)
			}
			if r.admEvnt != "" {
				fmt.Fprintf(&b, "    admitted pod: %s\n", r.admEvnt)
			}
		}
	}
	t.Logf("prediction vs reality on a real kubelet + containerd node (%d scenarios):\n%s", len(results), b.String())
	// Also on stderr, so `make test` shows it without -v.
	fmt.Fprintf(os.Stderr, "\n=== real node: prediction vs reality (%d scenarios)\n%s\n", len(results), b.String())
}

// testDiagnose asks `kubectl pullguard diagnose` about every pod that is
// really stuck in rnIgnored after its scenario, and fails unless it names
// the cause the scenario is about: the real kubelet's and containerd's
// words, not staged ones, are what diagnose must read.
func (r *realBed) testDiagnose(t *testing.T, results []realResult) {
	k := pluginKubectl(t, r.Kubectl)
	for i, sc := range realScenarios {
		if sc.cause == "" || results[i].reality != sc.want {
			continue // runs, or did not end as the scenario says (reported above)
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			report, out := r.diagnose(t, k, "rn-"+sc.name)
			if len(report.Pods) != 1 || len(report.Pods[0].Containers) == 0 {
				t.Fatalf("diagnose: want the pod's stuck container, got %s", out)
			}
			got := report.Pods[0].Containers[0]
			t.Logf("%s: %s (%s): %s; evidence %q", sc.name, got.Cause, got.Where, got.Fix, got.Evidence)
			if got.Cause != sc.cause || got.Fix == "" {
				t.Errorf("diagnose says %s (%s), fix %q; the pod is stuck for %s (kubelet: %s)", got.Cause, got.Where, got.Fix, sc.cause, results[i].event)
			}
		})
	}
}

// testDiagnoseWorkload diagnoses a workload in rnIgnored and fails unless
// the pods it reports stuck are exactly those the real kubelet left
// stuck, each with cause.
func (r *realBed) testDiagnoseWorkload(t *testing.T, target, cause string) {
	t.Helper()
	report, out := r.diagnose(t, pluginKubectl(t, r.Kubectl), target)
	// Every current pod is listed; only the stuck one has containers.
	var stuck []int
	for i, p := range report.Pods {
		if len(p.Containers) > 0 {
			stuck = append(stuck, i)
		}
	}
	if len(report.Pods) < 2 || len(stuck) != 1 || len(report.Pods[stuck[0]].Containers) != 1 {
		t.Fatalf("diagnose %s: want the rollout's pods with one stuck (the old one runs), got %s", target, out)
	}
	p := report.Pods[stuck[0]]
	if got := p.Containers[0]; got.Cause != cause || got.Fix == "" {
		t.Errorf("diagnose %s: pod %s: %s, fix %q; want %s", target, p.Name, got.Cause, got.Fix, cause)
	}
	t.Logf("diagnose %s: %d pods, %s stuck: %s", target, len(report.Pods), p.Name, p.Containers[0].Cause)
}

// diagnose runs `kubectl pullguard diagnose TARGET -n rnIgnored -o json`
// and returns its report, and its output for messages.
func (r *realBed) diagnose(t *testing.T, k bed.Kubectl, target string) (diagnoseReport, string) {
	t.Helper()
	res := runKubectl(t, k, "", "pullguard", "diagnose", target, "-n", rnIgnored, "--registry-ca-file", r.CA.PEMPath, "-o", "json")
	var report diagnoseReport
	if err := json.Unmarshal([]byte(res.Stdout), &report); err != nil {
		t.Fatalf("diagnose %s: %v\n%s", target, err, res)
	}
	return report, res.Stdout
}
