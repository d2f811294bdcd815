package keychain_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
)

// kubeletCase is one pull, as the kubelet would attempt it: the pod's pull
// secrets (docker config JSON, one keyring), the node's config (a keyring
// of its own, after), and the one credential the registry accepts for the
// image's repository. Cases port the kubelet's keyring_test.go (TestURLsMatch,
// TestDockerKeyringForGlob, TestKeyringMiss, TestKeyringHit*DockerHub,
// TestDockerKeyringLookup, TestIssue3797) into real requests, plus the try-each
// rules of kuberuntime_image.go's PullImage.
type kubeletCase struct {
	name    string
	secrets []string // docker config JSON of each pull secret, "secret ns/sN"
	node    string   // the node's config.json, "docker config /node", or ""
	image   string
	// accepts is the user the registry takes for the repository (password
	// "pw-" + user); "" makes the repository public, where credentials the
	// registry does not know are still refused, as Docker Hub refuses them.
	accepts string
	// known users are refused with 403 (the account exists but may not
	// read the repository); any other credential with 401.
	known []string
	// sent is the user of each attempt, in order ("-" for anonymous).
	sent []string
	// ok: the pull succeeds with the last of sent; else the finding.
	ok        bool
	wantClass image.Class
	wantTried string
}

// auths is a dockerconfigjson payload: key, user pairs; a user "{}" writes
// an entry without credentials.
func auths(kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		entry := fmt.Sprintf(`{"auth":%q}`, base64.StdEncoding.EncodeToString([]byte(kv[i+1]+":pw-"+kv[i+1])))
		if kv[i+1] == "{}" {
			entry = "{}"
		}
		parts = append(parts, fmt.Sprintf("%q:%s", kv[i], entry))
	}
	return `{"auths":{` + strings.Join(parts, ",") + `}}`
}

// kubeletCases: 64 pulls. Where a key does not match, the kubelet pulls
// anonymously and the private repository refuses it.
var kubeletCases = []kubeletCase{
	// TestURLsMatch: globs per DNS label, ports, path prefixes.
	{name: "label glob first", secrets: []string{auths("*.kubernetes.io", "u")}, image: "prefix.kubernetes.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "label glob middle", secrets: []string{auths("prefix.*.io", "u")}, image: "prefix.kubernetes.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "label glob last", secrets: []string{auths("prefix.kubernetes.*", "u")}, image: "prefix.kubernetes.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob inside a label", secrets: []string{auths("*-good.kubernetes.io", "u")}, image: "prefix-good.kubernetes.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob with a path", secrets: []string{auths("*.kubernetes.io/blah", "u")}, image: "prefix.kubernetes.io/blah/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob with a path prefix", secrets: []string{auths("prefix.*.io/foo", "u")}, image: "prefix.kubernetes.io/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob with port and path", secrets: []string{auths("*.kubernetes.io:1111/blah", "u")}, image: "prefix.kubernetes.io:1111/blah/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob with port and path prefix", secrets: []string{auths("prefix.*.io:1111/foo", "u")}, image: "prefix.kubernetes.io:1111/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob needs as many labels", secrets: []string{auths("*.kubernetes.io", "u")}, image: "kubernetes.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "two globs, one label short", secrets: []string{auths("*.*.kubernetes.io", "u")}, image: "prefix.kubernetes.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "two globs, two labels short", secrets: []string{auths("*.*.kubernetes.io", "u")}, image: "kubernetes.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "a glob never spans a dot", secrets: []string{auths("*kubernetes.io", "u")}, image: "a.kubernetes.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "a glob may match nothing", secrets: []string{auths("*kubernetes.io", "u")}, image: "kubernetes.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "three label globs", secrets: []string{auths("*.*.*.kubernetes.io", "u")}, image: "a.b.c.kubernetes.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "other top-level domain", secrets: []string{auths("kubernetes.io", "u")}, image: "kubernetes.com/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "glob of another host", secrets: []string{auths("k*.io", "u")}, image: "quay.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "other port", secrets: []string{auths("*.kubernetes.io:1234/blah", "u")}, image: "prefix.kubernetes.io:1111/blah/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "a key without port is not for a port", secrets: []string{auths("prefix.*.io/foo", "u")}, image: "prefix.kubernetes.io:1111/foo/bar:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	// TestDockerKeyringForGlob and TestKeyringMiss: schemes and /v1/, /v2/.
	{name: "https scheme ignored", secrets: []string{auths("https://hello.kubernetes.io", "u")}, image: "hello.kubernetes.io/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "http scheme and port", secrets: []string{auths("http://reg.example.com:5000/", "u")}, image: "reg.example.com:5000/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob with port", secrets: []string{auths("https://*.docker.io:8888", "u")}, image: "prefix.docker.io:8888/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "/v1/ is no path", secrets: []string{auths("https://*.docker.io/v1/", "u")}, image: "prefix.docker.io/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "/v2/ is no path", secrets: []string{auths("https://*.docker.io/v2/", "u")}, image: "prefix.docker.io/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "/v2/ before a path is dropped", secrets: []string{auths("https://reg.example.com/v2/team", "u")}, image: "reg.example.com/team/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "/v2 without a slash is a path", secrets: []string{auths("reg.example.com/v2", "u")}, image: "reg.example.com/team/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "key with port for a deeper path", secrets: []string{auths("prefix.docker.io:1111", "u")}, image: "prefix.docker.io:1111/path/foo/bar:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob with port for a path", secrets: []string{auths("*.docker.io:1111", "u")}, image: "prefix.docker.io:1111/path:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "miss: other host", secrets: []string{auths("https://hello.kubernetes.io", "u")}, image: "world.mesos.org/foo/bar:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "miss: glob of another domain", secrets: []string{auths("https://*.docker.com", "u")}, image: "prefix.docker.io/foo/bar:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "miss: other first label", secrets: []string{auths("https://suffix.*.io", "u")}, image: "prefix.docker.io/foo/bar:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "miss: glob in the last label", secrets: []string{auths("https://prefix.docker.c*", "u")}, image: "prefix.docker.io/foo/bar:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "azurecr glob", secrets: []string{auths("*.azurecr.io", "u")}, image: "myacr.azurecr.io/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "azurecr glob is one label", secrets: []string{auths("*.azurecr.io", "u")}, image: "myacr.privatelink.azurecr.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "IP address and port", secrets: []string{auths("10.0.0.7:5000", "u")}, image: "10.0.0.7:5000/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "glob over an IP label", secrets: []string{auths("10.0.0.*:5000", "u")}, image: "10.0.0.7:5000/app:v1", accepts: "u", sent: []string{"u"}, ok: true},
	{name: "host key is not for another port", secrets: []string{auths("reg.example.com", "u")}, image: "reg.example.com:5000/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "port key is not for the default port", secrets: []string{auths("reg.example.com:5000", "u")}, image: "reg.example.com/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "hosts are case-sensitive", secrets: []string{auths("REG.example.com", "u")}, image: "reg.example.com/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "no suffix match", secrets: []string{auths("reg.example.com", "u")}, image: "reg.example.com.evil.io/app:v1", accepts: "u", sent: []string{"-"}, wantClass: image.Unauthorized},
	// TestKeyringHit*DockerHub, TestKeyringMissWithDockerHubCredentials.
	{name: "docker hub key, unqualified user image", secrets: []string{auths("https://index.docker.io/v1/", "hub")}, image: "google/docker-registry:v1", accepts: "hub", sent: []string{"hub"}, ok: true},
	{name: "docker hub key, library image", secrets: []string{auths("https://index.docker.io/v1/", "hub")}, image: "jenkins:v1", accepts: "hub", sent: []string{"hub"}, ok: true},
	{name: "docker hub key, qualified image", secrets: []string{auths("https://index.docker.io/v1/", "hub")}, image: "docker.io/library/nginx:v1", accepts: "hub", sent: []string{"hub"}, ok: true},
	{name: "docker hub key is not for other hosts", secrets: []string{auths("https://index.docker.io/v1/", "hub")}, image: "world.mesos.org/foo/bar:v1", accepts: "hub", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "docker.io key", secrets: []string{auths("docker.io", "hub")}, image: "nginx:v1", accepts: "hub", sent: []string{"hub"}, ok: true},
	{name: "registry-1.docker.io key is not docker.io", secrets: []string{auths("registry-1.docker.io", "hub")}, image: "nginx:v1", accepts: "hub", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "docker hub fallback when no key matched", secrets: []string{auths("https://index.docker.io/v1/", "hub", "docker.io/acme", "acme")}, image: "nginx:v1", accepts: "hub", sent: []string{"hub"}, ok: true},
	{name: "no docker hub fallback once a key matched", secrets: []string{auths("https://index.docker.io/v1/", "hub", "docker.io/acme", "acme")}, image: "acme/api:v1", accepts: "hub", sent: []string{"acme"},
		wantClass: image.Unauthorized, wantTried: "secret ns/s0 (401 Unauthorized)"},
	// TestDockerKeyringLookup and TestIssue3797: most specific first, then every match.
	{name: "deeper key first", secrets: []string{auths("bar.example.com/pong", "grace", "bar.example.com", "ada")}, image: "bar.example.com/pong/app:v1", accepts: "grace", sent: []string{"grace"}, ok: true},
	{name: "wrong first, right second", secrets: []string{auths("bar.example.com/pong", "grace", "bar.example.com", "ada")}, image: "bar.example.com/pong/app:v1", accepts: "ada", sent: []string{"grace", "ada"}, ok: true},
	{name: "deeper key of another path ignored", secrets: []string{auths("bar.example.com/pong", "grace", "bar.example.com", "ada")}, image: "bar.example.com/ping/app:v1", accepts: "ada", sent: []string{"ada"}, ok: true},
	{name: "path key is a string prefix", secrets: []string{auths("bar.example.com/pong", "grace", "bar.example.com", "ada")}, image: "bar.example.com/pongz/app:v1", accepts: "ada", sent: []string{"grace", "ada"}, ok: true},
	{name: "no host match", secrets: []string{auths("bar.example.com/pong", "grace", "bar.example.com", "ada")}, image: "foo.example.com/app:v1", accepts: "ada", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "scheme and /v1/ key for every path", secrets: []string{auths("https://quay.io/v1/", "rex")}, image: "quay.io/foo/bar:v1", accepts: "rex", sent: []string{"rex"}, ok: true},
	// Try-each across secrets and keyrings (kuberuntime_image.go PullImage).
	{name: "key for /other is not sent for /team", secrets: []string{auths("reg.example.com/other", "other")}, image: "reg.example.com/team/app:v1", accepts: "other", sent: []string{"-"}, wantClass: image.Unauthorized},
	{name: "wrong secret first, right secret second", secrets: []string{auths("reg.example.com", "wrong"), auths("reg.example.com", "right")}, image: "reg.example.com/team/app:v1", accepts: "right", sent: []string{"wrong", "right"}, ok: true},
	{name: "order is across secrets, most specific first", secrets: []string{auths("reg.example.com", "host"), auths("reg.example.com/team", "team")}, image: "reg.example.com/team/app:v1", accepts: "host", sent: []string{"team", "host"}, ok: true},
	{name: "node config after the pod's secrets", secrets: []string{auths("reg.example.com", "wrong")}, node: auths("reg.example.com", "node"), image: "reg.example.com/app:v1", accepts: "node", sent: []string{"wrong", "node"}, ok: true},
	{name: "node keyring has its own docker hub fallback", secrets: []string{auths("https://index.docker.io/v1/", "podhub")}, node: auths("docker.io", "nodehub"), image: "nginx:v1", accepts: "nodehub", sent: []string{"podhub", "nodehub"}, ok: true},
	{name: "keys equal once read are all tried", secrets: []string{auths("https://reg.example.com", "a-wrong", "reg.example.com", "b-right")}, image: "reg.example.com/app:v1", accepts: "b-right", sent: []string{"a-wrong", "b-right"}, ok: true},
	{name: "an entry without credentials is an anonymous try", secrets: []string{auths("reg.example.com/team", "{}", "reg.example.com", "right")}, image: "reg.example.com/team/app:v1", accepts: "right", sent: []string{"-", "right"}, ok: true},
	{name: "the same credential twice is sent once", secrets: []string{auths("reg.example.com", "same"), auths("reg.example.com/team", "same")}, image: "reg.example.com/team/app:v1", accepts: "right", sent: []string{"same"},
		wantClass: image.Unauthorized, wantTried: "secret ns/s1 (401 Unauthorized), secret ns/s0 (401 Unauthorized)"},
	{name: "never anonymous once a credential matched", secrets: []string{auths("reg.example.com", "stale")}, image: "reg.example.com/public:v1", sent: []string{"stale"},
		wantClass: image.Unauthorized, wantTried: "secret ns/s0 (401 Unauthorized)"},
	{name: "no credential matched: anonymous", secrets: []string{auths("other.example.com", "u")}, image: "reg.example.com/public:v1", sent: []string{"-"}, ok: true},
	{name: "every credential refused: the answer that got furthest", secrets: []string{auths("reg.example.com", "stranger"), auths("reg.example.com", "colleague")}, image: "reg.example.com/team/app:v1",
		accepts: "owner", known: []string{"colleague"}, sent: []string{"stranger", "colleague"},
		wantClass: image.Forbidden, wantTried: "secret ns/s0 (401 Unauthorized), secret ns/s1 (403 Forbidden)"},
}

// oneCredential fronts a registry that takes exactly one credential for
// the repository (or none: public) and records who sent what.
type oneCredential struct {
	inner   http.Handler
	accepts string
	known   []string

	mu   sync.Mutex
	sent []string
}

func (o *oneCredential) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/v2/" {
		// A challenge, so that clients send what they hold.
		w.Header().Set("WWW-Authenticate", `Basic realm="kubelet-test"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	user, pass, hasAuth := r.BasicAuth()
	if strings.Contains(r.URL.Path, "/manifests/") {
		o.mu.Lock()
		who := "-"
		if hasAuth {
			who = user
		}
		if len(o.sent) == 0 || o.sent[len(o.sent)-1] != who {
			o.sent = append(o.sent, who)
		}
		o.mu.Unlock()
	}
	valid := hasAuth && pass == "pw-"+user
	switch {
	case valid && user == o.accepts, !hasAuth && o.accepts == "":
		o.inner.ServeHTTP(w, r)
	case valid && slices.Contains(o.known, user):
		registrytest.WriteError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
	default:
		w.Header().Set("WWW-Authenticate", `Basic realm="kubelet-test"`)
		registrytest.WriteError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	}
}

// pull runs one case against its own registry: every host dials it.
func pull(t *testing.T, tc kubeletCase, creds resolve.Credentials) (*oneCredential, image.Facts, error) {
	t.Helper()
	ref, err := image.Parse(tc.image)
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.New(t)
	reg.PushImage(t, ref.Path+":"+ref.Tag, v1.Platform{OS: "linux", Architecture: "amd64"})
	front := &oneCredential{accepts: tc.accepts, known: tc.known}
	reg.Wrap(func(next http.Handler) http.Handler {
		front.inner = next
		return front
	})
	addr := reg.Host
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, "tcp", addr)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	r := resolve.New(resolve.WithTransport(transport), resolve.WithInsecureRegistries(ref.Registry))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	facts, err := r.Resolve(ctx, resolve.Request{Ref: ref, Credentials: creds})
	return front, facts, err
}

// kubeletCredentials builds a pod's credentials as internal/cluster does.
func kubeletCredentials(t *testing.T, tc kubeletCase) *keychain.Keychain {
	t.Helper()
	var configs []*keychain.Config
	for i, s := range tc.secrets {
		c, err := keychain.Parse([]byte(s), fmt.Sprintf("secret ns/s%d", i), keychain.ConfigJSON)
		if err != nil {
			t.Fatal(err)
		}
		configs = append(configs, c)
	}
	chains := []*keychain.Keychain{keychain.New(configs...)}
	if tc.node != "" {
		c, err := keychain.Parse([]byte(tc.node), "docker config /node", keychain.ConfigJSON)
		if err != nil {
			t.Fatal(err)
		}
		chains = append(chains, keychain.New(c))
	}
	return keychain.Union(chains...)
}

func TestKubeletKeyringPulls(t *testing.T) {
	t.Parallel()
	if len(kubeletCases) < 40 {
		t.Fatalf("%d cases, want at least 40", len(kubeletCases))
	}
	for _, tc := range kubeletCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			front, facts, err := pull(t, tc, kubeletCredentials(t, tc))
			front.mu.Lock()
			sent := front.sent
			front.mu.Unlock()
			if diff := cmp.Diff(tc.sent, sent); diff != "" {
				t.Errorf("credentials sent, in order (-want +got):\n%s", diff)
			}
			if tc.ok {
				if err != nil || facts.Digest.Hex == "" {
					t.Fatalf("Resolve = %v, %v; want the pull to succeed", facts, err)
				}
				return
			}
			var e *image.Error
			if !errors.As(err, &e) {
				t.Fatalf("Resolve = %v, %v; want an *image.Error", facts, err)
			}
			var tried []string
			for _, a := range e.Tried {
				tried = append(tried, a.Source+" ("+a.Answer+")")
			}
			if e.Class != tc.wantClass || strings.Join(tried, ", ") != tc.wantTried {
				t.Errorf("finding %s, tried %q; want %s, tried %q", e.Class, strings.Join(tried, ", "), tc.wantClass, tc.wantTried)
			}
			for _, s := range append(tc.secrets, tc.node) {
				if s != "" && strings.Contains(err.Error(), "pw-") {
					t.Errorf("error %q reveals a password", err)
				}
			}
		})
	}
}
