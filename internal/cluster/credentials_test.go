package cluster_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
)

// answer is what the credentials say for one registry.
type answer struct {
	User    string // "" for anonymous
	Sources []string
}

// ask is what creds answer for registry: the user Resolve sends, and Sources.
func ask(t *testing.T, creds resolve.Credentials, registry string) answer {
	t.Helper()
	reg, err := name.NewRegistry(registry)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := creds.Resolve(reg)
	if err != nil {
		t.Fatalf("Resolve(%q): %v", registry, err)
	}
	cfg, err := auth.Authorization()
	if err != nil {
		t.Fatalf("Authorization(%q): %v", registry, err)
	}
	if (cfg.Username == "") != (creds.Identity(registry) == "") {
		t.Errorf("Identity(%q) = %q disagrees with user %q", registry, creds.Identity(registry), cfg.Username)
	}
	return answer{User: cfg.Username, Sources: creds.Sources(registry)}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	const ns = "team-a"
	objects := func(t *testing.T) []client.Object {
		legacy := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "legacy", UID: "uid-legacy"},
			Type:       corev1.SecretTypeDockercfg,
			Data:       map[string][]byte{corev1.DockerConfigKey: dockercfg(t, map[string]string{"old.example.com": "old"})},
		}
		opaque := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "opaque"},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfigJSON(t, map[string]string{"ghcr.io": "opaque"})},
		}
		empty := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "empty"},
			Type:       corev1.SecretTypeDockerConfigJson,
		}
		return []client.Object{
			pullSecret(ns, "ghcr", dockerConfigJSON(t, map[string]string{"ghcr.io": "ghcr-a"})),
			pullSecret(ns, "both", dockerConfigJSON(t, map[string]string{"ghcr.io": "ghcr-b", "quay.io": "quay-b"})),
			pullSecret(ns, "hub", dockerConfigJSON(t, map[string]string{"https://index.docker.io/v1/": "hub"})),
			pullSecret(ns, "exact", dockerConfigJSON(t, map[string]string{"registry.example.com": "exact"})),
			pullSecret(ns, "broken", []byte(`{"auths": {"ghcr.io": {"password": "hunter2"`)),
			pullSecret("team-b", "other-ns", dockerConfigJSON(t, map[string]string{"ghcr.io": "team-b"})),
			legacy, opaque, empty,
			serviceAccount(ns, "default", "hub"),
			serviceAccount(ns, "builder", "both", "gone"),
		}
	}
	nodeConfig := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(nodeConfig, dockerConfigJSON(t, map[string]string{"ghcr.io": "node", "node.example.com": "node"}), 0o600); err != nil {
		t.Fatal(err)
	}
	nodeSource := "docker config " + nodeConfig

	tests := []struct {
		name string
		pod  *workload.PodContext
		node bool
		want map[string]answer
	}{{
		name: "pod secrets in order, first with the host answers",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"ghcr", "both"}},
		want: map[string]answer{
			"ghcr.io":   {User: "ghcr-a", Sources: []string{"secret team-a/ghcr", "secret team-a/both"}},
			"quay.io":   {User: "quay-b", Sources: []string{"secret team-a/both"}},
			"docker.io": {},
		},
	}, {
		name: "skipped secrets are named with why, after those holding the host",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"missing", "broken", "opaque", "empty", "both", "other-ns"}},
		want: map[string]answer{
			"ghcr.io": {User: "ghcr-b", Sources: []string{
				"secret team-a/both",
				"secret team-a/missing (not found)", "secret team-a/broken (malformed)",
				"secret team-a/opaque (not a pull secret)", "secret team-a/empty (no docker config key)",
				"secret team-a/other-ns (not found)",
			}},
			"node.example.com": {Sources: []string{
				"secret team-a/missing (not found)", "secret team-a/broken (malformed)",
				"secret team-a/opaque (not a pull secret)", "secret team-a/empty (no docker config key)",
				"secret team-a/other-ns (not found)",
			}},
		},
	}, {
		name: "legacy dockercfg secrets count",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"legacy"}},
		want: map[string]answer{
			"old.example.com": {User: "old", Sources: []string{"secret team-a/legacy"}},
		},
	}, {
		name: "no pod secrets: the default service account's",
		pod:  &workload.PodContext{},
		want: map[string]answer{
			"index.docker.io": {User: "hub", Sources: []string{"service account team-a/default: secret team-a/hub"}},
			"docker.io":       {User: "hub", Sources: []string{"service account team-a/default: secret team-a/hub"}},
		},
	}, {
		name: "nil pod is a pod naming nothing",
		want: map[string]answer{
			"docker.io": {User: "hub", Sources: []string{"service account team-a/default: secret team-a/hub"}},
		},
	}, {
		name: "named service account, with a missing secret",
		pod:  &workload.PodContext{ServiceAccountName: "builder"},
		want: map[string]answer{
			"quay.io": {User: "quay-b", Sources: []string{
				"service account team-a/builder: secret team-a/both",
				"service account team-a/builder: secret team-a/gone (not found)",
			}},
			"docker.io": {Sources: []string{"service account team-a/builder: secret team-a/gone (not found)"}},
		},
	}, {
		// The ServiceAccount admission plugin adds the account's secrets
		// only to pods that name none; the kubelet reads the pod's list.
		name: "pod secrets replace the service account's",
		pod:  &workload.PodContext{ServiceAccountName: "builder", ImagePullSecrets: []string{"ghcr"}},
		want: map[string]answer{
			"ghcr.io": {User: "ghcr-a", Sources: []string{"secret team-a/ghcr"}},
			"quay.io": {},
		},
	}, {
		name: "missing service account",
		pod:  &workload.PodContext{ServiceAccountName: "ghost"},
		want: map[string]answer{
			"ghcr.io": {Sources: []string{"service account team-a/ghost (not found)"}},
		},
	}, {
		name: "hosts match exactly, never by prefix or suffix",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"exact"}},
		want: map[string]answer{
			"registry.example.com":          {User: "exact", Sources: []string{"secret team-a/exact"}},
			"registry.example.com.evil.io":  {},
			"evil.registry.example.com":     {},
			"registry.example.com:5000":     {},
			"REGISTRY.EXAMPLE.COM":          {User: "exact", Sources: []string{"secret team-a/exact"}},
			"other.example.com":             {},
			"registry.example.co":           {},
			"xregistry.example.com":         {},
			"registry.example.com.":         {},
			"registry-example.com":          {},
			"registry.example.com.evil.io.": {},
		},
	}, {
		name: "node docker config comes after the pod's secrets",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"ghcr"}},
		node: true,
		want: map[string]answer{
			"ghcr.io":          {User: "ghcr-a", Sources: []string{"secret team-a/ghcr", nodeSource}},
			"node.example.com": {User: "node", Sources: []string{nodeSource}},
			"quay.io":          {},
		},
	}, {
		name: "node docker config after the service account's secrets",
		pod:  &workload.PodContext{ServiceAccountName: "builder"},
		node: true,
		want: map[string]answer{
			"ghcr.io": {User: "ghcr-b", Sources: []string{
				"service account team-a/builder: secret team-a/both", nodeSource,
				"service account team-a/builder: secret team-a/gone (not found)",
			}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := cluster.Options{}
			if tt.node {
				opts.NodeDockerConfig = nodeConfig
			}
			v := newView(t, fakeReader(objects(t)...), opts)
			creds, err := v.Credentials(context.Background(), ns, tt.pod)
			if err != nil {
				t.Fatalf("Credentials: %v", err)
			}
			got := map[string]answer{}
			for registry := range tt.want {
				got[registry] = ask(t, creds, registry)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("credentials (-want +got):\n%s", diff)
			}
		})
	}
}

// Skipped secrets are logged at V(1) without their content, and printing
// the credentials shows no password.
func TestCredentialsNeverLeak(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	logger := funcr.New(func(prefix, args string) { logs.WriteString(prefix + " " + args + "\n") }, funcr.Options{Verbosity: 1})
	ctx := log.IntoContext(context.Background(), logger)
	reader := fakeReader(
		pullSecret("ns", "broken", []byte(`{"auths": {"ghcr.io": {"password": "hunter2", `)),
		pullSecret("ns", "good", dockerConfigJSON(t, map[string]string{"ghcr.io": "alice"})),
	)
	v := newView(t, reader, cluster.Options{})
	creds, err := v.Credentials(ctx, "ns", &workload.PodContext{ImagePullSecrets: []string{"broken", "good"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "ns/broken") {
		t.Errorf("the malformed secret was not logged at V(1); logs:\n%s", logs.String())
	}
	printed := logs.String() + creds.(interface{ String() string }).String() + strings.Join(creds.Sources("ghcr.io"), " ")
	for _, secret := range []string{"hunter2", "pw-alice"} {
		if strings.Contains(printed, secret) {
			t.Errorf("%q leaked into logs or output:\n%s", secret, printed)
		}
	}
}

// A secret is parsed once per UID and resourceVersion: the same version
// with other data (which an API server never serves) still gives the first
// parse, and a new version is parsed again.
func TestCredentialsMemoisedByVersion(t *testing.T) {
	t.Parallel()
	version := func(rv, user string) client.Reader {
		s := pullSecret("ns", "regcred", dockerConfigJSON(t, map[string]string{"ghcr.io": user}))
		s.ResourceVersion = rv
		return fake.NewClientBuilder().WithScheme(cluster.Scheme()).WithRuntimeObjects(s).Build()
	}
	reader := &swapReader{inner: version("10", "first")}
	v := newView(t, reader, cluster.Options{})
	pod := &workload.PodContext{ImagePullSecrets: []string{"regcred"}}
	user := func() string {
		creds, err := v.Credentials(context.Background(), "ns", pod)
		if err != nil {
			t.Fatal(err)
		}
		return ask(t, creds, "ghcr.io").User
	}
	var got []string
	got = append(got, user())
	reader.set(version("10", "same-version"))
	got = append(got, user())
	reader.set(version("11", "next-version"))
	got = append(got, user())
	if diff := cmp.Diff([]string{"first", "first", "next-version"}, got); diff != "" {
		t.Errorf("users over versions (-want +got):\n%s", diff)
	}
}

func TestNodeDockerConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	source := "docker config " + path
	const noSA = "service account ns/default (not found)"
	if err := os.WriteFile(path, dockerConfigJSON(t, map[string]string{"ghcr.io": "n1"}), 0o600); err != nil {
		t.Fatal(err)
	}
	v := newView(t, fakeReader(), cluster.Options{NodeDockerConfig: path})
	current := func() answer {
		creds, err := v.Credentials(context.Background(), "ns", nil)
		if err != nil {
			t.Fatal(err)
		}
		return ask(t, creds, "ghcr.io")
	}
	var got []answer
	got = append(got, current())
	// A remount changes the file; a longer user name changes its size too,
	// so the test does not depend on the file system's mtime resolution.
	if err := os.WriteFile(path, dockerConfigJSON(t, map[string]string{"ghcr.io": "n2-rotated"}), 0o600); err != nil {
		t.Fatal(err)
	}
	got = append(got, current())
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	got = append(got, current())
	want := []answer{
		{User: "n1", Sources: []string{source, noSA}},
		{User: "n2-rotated", Sources: []string{source, noSA}},
		{Sources: []string{noSA, source + " (unreadable)"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers over changes (-want +got):\n%s", diff)
	}
}

func TestNewFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	malformed := filepath.Join(dir, "malformed.json")
	if err := os.WriteFile(malformed, []byte(`{"auths": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		reader client.Reader
		opts   cluster.Options
	}{
		{name: "no reader", opts: cluster.Options{}},
		{name: "missing node docker config", reader: fakeReader(), opts: cluster.Options{NodeDockerConfig: filepath.Join(dir, "absent.json")}},
		{name: "malformed node docker config", reader: fakeReader(), opts: cluster.Options{NodeDockerConfig: malformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if v, err := cluster.New(tt.reader, tt.opts); err == nil {
				t.Errorf("New = %v, want an error", v)
			}
		})
	}
}
