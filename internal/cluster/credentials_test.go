package cluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/cluster"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
)

// answer is what the credentials say for one repository: the users the
// kubelet would try, in order, and the sources skipped.
type answer struct {
	Users   []string // "" for an anonymous candidate
	Skipped []string
}

// ask is what creds answer for repository.
func ask(t *testing.T, creds resolve.Credentials, repository string) answer {
	t.Helper()
	cands, err := creds.Candidates(t.Context(), repository)
	if err != nil {
		t.Fatalf("Candidates(%q): %v", repository, err)
	}
	var a answer
	for _, c := range cands {
		cfg, err := c.Authenticator().Authorization()
		if err != nil {
			t.Fatalf("Authorization(%q): %v", repository, err)
		}
		if (cfg.Username == "") != c.Anonymous() {
			t.Errorf("%s: identity %q disagrees with user %q", c.Source, c.Identity, cfg.Username)
		}
		a.Users = append(a.Users, cfg.Username)
	}
	a.Skipped = creds.Skipped()
	return a
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
			pullSecret(ns, "team", dockerConfigJSON(t, map[string]string{"https://registry.example.com/team": "team"})),
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

	skippedA := []string{
		"secret team-a/missing (not found)",
		"secret team-a/opaque (type Opaque, not a pull secret: the kubelet reads only kubernetes.io/dockerconfigjson (kubectl create secret docker-registry) and kubernetes.io/dockercfg)", "secret team-a/empty (no docker config key)",
		"secret team-a/other-ns (not found)",
	}
	tests := []struct {
		name string
		pod  *workload.PodContext
		node bool
		want map[string]answer // by repository
	}{{
		name: "pod secrets make one keyring: every match, in order",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"ghcr", "both"}},
		want: map[string]answer{
			"ghcr.io/acme/api":        {Users: []string{"ghcr-a", "ghcr-b"}},
			"quay.io/acme/api":        {Users: []string{"quay-b"}},
			"docker.io/library/nginx": {},
		},
	}, {
		name: "skipped secrets are named with why",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"missing", "opaque", "empty", "both", "other-ns"}},
		want: map[string]answer{
			"ghcr.io/acme/api":          {Users: []string{"ghcr-b"}, Skipped: skippedA},
			"node.example.com/team/app": {Skipped: skippedA},
		},
	}, {
		name: "legacy dockercfg secrets count",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"legacy"}},
		want: map[string]answer{
			"old.example.com/app": {Users: []string{"old"}},
		},
	}, {
		name: "no pod secrets: the default service account's",
		pod:  &workload.PodContext{},
		want: map[string]answer{
			"docker.io/library/nginx": {Users: []string{"hub"}},
			"docker.io/acme/api":      {Users: []string{"hub"}},
		},
	}, {
		name: "nil pod is a pod naming nothing",
		want: map[string]answer{
			"docker.io/library/nginx": {Users: []string{"hub"}},
		},
	}, {
		name: "named service account, with a missing secret",
		pod:  &workload.PodContext{ServiceAccountName: "builder"},
		want: map[string]answer{
			"quay.io/acme/api":        {Users: []string{"quay-b"}, Skipped: []string{"service account team-a/builder: secret team-a/gone (not found)"}},
			"docker.io/library/nginx": {Skipped: []string{"service account team-a/builder: secret team-a/gone (not found)"}},
		},
	}, {
		// The ServiceAccount admission plugin adds the account's secrets
		// only to pods that name none; the kubelet reads the pod's list.
		name: "pod secrets replace the service account's",
		pod:  &workload.PodContext{ServiceAccountName: "builder", ImagePullSecrets: []string{"ghcr"}},
		want: map[string]answer{
			"ghcr.io/acme/api": {Users: []string{"ghcr-a"}},
			"quay.io/acme/api": {},
		},
	}, {
		name: "missing service account",
		pod:  &workload.PodContext{ServiceAccountName: "ghost"},
		want: map[string]answer{
			"ghcr.io/acme/api": {Skipped: []string{"service account team-a/ghost (not found)"}},
		},
	}, {
		name: "hosts match by DNS label, port and path prefix, case-sensitively",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"exact", "team"}},
		want: map[string]answer{
			"registry.example.com/app":          {Users: []string{"exact"}},
			"registry.example.com/team/app":     {Users: []string{"team", "exact"}},
			"registry.example.com.evil.io/app":  {},
			"evil.registry.example.com/app":     {},
			"registry.example.com:5000/app":     {},
			"REGISTRY.EXAMPLE.COM/app":          {},
			"other.example.com/app":             {},
			"registry-example.com/app":          {},
			"registry.example.com.evil.io./app": {},
		},
	}, {
		name: "node docker config comes after the pod's secrets",
		pod:  &workload.PodContext{ImagePullSecrets: []string{"ghcr"}},
		node: true,
		want: map[string]answer{
			"ghcr.io/acme/api":          {Users: []string{"ghcr-a", "node"}},
			"node.example.com/team/app": {Users: []string{"node"}},
			"quay.io/acme/api":          {},
		},
	}, {
		name: "node docker config after the service account's secrets",
		pod:  &workload.PodContext{ServiceAccountName: "builder"},
		node: true,
		want: map[string]answer{
			"ghcr.io/acme/api": {Users: []string{"ghcr-b", "node"}, Skipped: []string{
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
			for repository := range tt.want {
				got[repository] = ask(t, creds, repository)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("credentials (-want +got):\n%s", diff)
			}
		})
	}
}

// A pull secret the kubelet cannot decode (the API server checks only that
// it is JSON) fails every pull of the pod, whatever the registry; it is
// logged at V(1) without its content, and nothing printed shows a password.
func TestUnreadablePullSecretFailsEveryPull(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	logger := funcr.New(func(prefix, args string) { logs.WriteString(prefix + " " + args + "\n") }, funcr.Options{Verbosity: 1})
	ctx := log.IntoContext(context.Background(), logger)
	reader := fakeReader(
		pullSecret("ns", "broken", []byte(`{"auths": {"ghcr.io": {"auth": "hunter2!!"}}}`)),
		pullSecret("ns", "good", dockerConfigJSON(t, map[string]string{"ghcr.io": "alice"})),
	)
	v := newView(t, reader, cluster.Options{})
	creds, err := v.Credentials(ctx, "ns", &workload.PodContext{ImagePullSecrets: []string{"good", "broken"}})
	if err != nil {
		t.Fatal(err)
	}
	var printed strings.Builder
	for _, repo := range []string{"ghcr.io/acme/api", "docker.io/library/nginx"} {
		cands, err := creds.Candidates(t.Context(), repo)
		if !errors.Is(err, image.ErrUnreadablePullSecret) || cands != nil {
			t.Errorf("Candidates(%q) = %v, %v; want image.ErrUnreadablePullSecret", repo, cands, err)
		}
		if err != nil {
			printed.WriteString(err.Error())
		}
	}
	if !strings.Contains(printed.String(), `secret ns/broken: entry "ghcr.io": "auth" is not valid base64`) {
		t.Errorf("error %q does not name the secret and the rule", printed.String())
	}
	if !strings.Contains(logs.String(), "ns/broken") {
		t.Errorf("the malformed secret was not logged at V(1); logs:\n%s", logs.String())
	}
	printed.WriteString(logs.String() + creds.(interface{ String() string }).String() + strings.Join(creds.Skipped(), " "))
	for _, secret := range []string{"hunter2", "pw-alice"} {
		if strings.Contains(printed.String(), secret) {
			t.Errorf("%q leaked into logs or output:\n%s", secret, printed.String())
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
		return ask(t, creds, "ghcr.io/acme/api").Users[0]
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
		return ask(t, creds, "ghcr.io/acme/api")
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
		{Users: []string{"n1"}, Skipped: []string{noSA}},
		{Users: []string{"n2-rotated"}, Skipped: []string{noSA}},
		{Skipped: []string{noSA, source + " (unreadable)"}},
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
