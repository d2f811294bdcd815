package policies

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/workload"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

// classCase gives a result that produces exactly one finding of its class,
// under a policy that allows only ghcr.io (for RegistryNotAllowed).
func classCases(t *testing.T) map[image.Class]Result {
	t.Helper()
	invalid := Result{
		Use: workload.ImageUse{Container: "app", Image: "Ghcr.io/Acme/API", Pointer: "/spec/containers/0/image", Pod: testPod},
		Err: &image.Error{Class: image.InvalidReference, Image: "Ghcr.io/Acme/API", Reason: "repository must be lower case"},
	}
	mismatch := use(t, "ghcr.io/acme/api:v1", windows)
	mismatch.Nodes = nodesOf(amd64)
	return map[image.Class]Result{
		image.InvalidReference:   invalid,
		image.ImplicitLatest:     use(t, "ghcr.io/acme/api"),
		image.LatestTag:          use(t, "ghcr.io/acme/api:latest"),
		image.NotFound:           failed(t, "ghcr.io/acme/api:v1", image.NotFound),
		image.Unauthorized:       failed(t, "ghcr.io/acme/api:v1", image.Unauthorized),
		image.Forbidden:          failed(t, "ghcr.io/acme/api:v1", image.Forbidden),
		image.RateLimited:        failed(t, "ghcr.io/acme/api:v1", image.RateLimited),
		image.Unreachable:        failed(t, "ghcr.io/acme/api:v1", image.Unreachable),
		image.PlatformMismatch:   mismatch,
		image.RegistryNotAllowed: use(t, "quay.io/acme/api:v1"),
		image.AddressBlocked:     failed(t, "ghcr.io/acme/api:v1", image.AddressBlocked),
	}
}

func TestEvaluateEveryClassAndAction(t *testing.T) {
	t.Parallel()
	cases := classCases(t)
	for _, class := range image.Classes {
		for _, mode := range []v1alpha1.Mode{v1alpha1.ModeEnforce, v1alpha1.ModeAudit} {
			for _, action := range []Action{Deny, Warn, Audit} {
				t.Run(string(class)+"/"+string(mode)+"/"+string(action), func(t *testing.T) {
					t.Parallel()
					p := compile(t, v1alpha1.ImagePolicySpec{
						Mode:              mode,
						Actions:           map[string]Action{string(class): action},
						AllowedRegistries: []v1alpha1.RegistryPattern{"ghcr.io"},
					})
					r, ok := cases[class]
					if !ok {
						t.Fatalf("no case for class %s", class)
					}
					d := p.Evaluate(Input{Object: podObject, Results: []Result{r}})
					want := action
					if mode == v1alpha1.ModeAudit && action == Deny {
						want = Audit
					}
					got := make([]string, len(d.Findings))
					for i, f := range d.Findings {
						got[i] = string(f.Class) + "=" + string(f.Action)
					}
					if diff := cmp.Diff([]string{string(class) + "=" + string(want)}, got); diff != "" {
						t.Errorf("findings (-want +got):\n%s", diff)
					}
					if d.Allowed != (want != Deny) {
						t.Errorf("Allowed = %v with action %s", d.Allowed, want)
					}
				})
			}
		}
	}
}

func TestEvaluateBuiltInDefault(t *testing.T) {
	t.Parallel()
	cases := classCases(t)
	want := map[image.Class]Action{
		image.InvalidReference: Deny, image.ImplicitLatest: Deny, image.LatestTag: Warn,
		image.NotFound: Deny, image.Unauthorized: Deny, image.Forbidden: Deny,
		image.RateLimited: Warn, image.Unreachable: Warn, image.PlatformMismatch: Deny,
		image.AddressBlocked: Deny,
	}
	for class, action := range want {
		t.Run(string(class), func(t *testing.T) {
			t.Parallel()
			r := cases[class]
			d := Default().Evaluate(Input{Object: podObject, Results: []Result{r}})
			if len(d.Findings) != 1 {
				t.Fatalf("findings = %+v, want one", d.Findings)
			}
			f := d.Findings[0]
			if f.Class != class || f.Action != action || d.Allowed != (action != Deny) {
				t.Errorf("got %s=%s allowed=%v, want %s=%s", f.Class, f.Action, d.Allowed, class, action)
			}
			if !strings.Contains(f.Message, `container "app"`) || !strings.Contains(f.Message, `"`+r.Use.Image+`"`) {
				t.Errorf("message %q does not quote container and image", f.Message)
			}
			if f.Fix == "" || f.Object != "Pod/team-a/web" || f.Pointer != r.Use.Pointer {
				t.Errorf("finding %+v lacks fix, object or pointer", f)
			}
		})
	}
	if got := Default().Action(image.RegistryNotAllowed); got != Deny {
		t.Errorf("default RegistryNotAllowed = %s, want Deny", got)
	}
}

func TestEvaluateMessages(t *testing.T) {
	t.Parallel()
	notFound := failed(t, "ghcr.io/acme/api:v1.2", image.NotFound)
	notFound.Err.(*image.Error).Suggestions = []string{"v1.2.0", "v1.2.1"}
	notFound.Err.(*image.Error).Reason = `registry answered 404 MANIFEST_UNKNOWN`
	wrapped := failed(t, "ghcr.io/acme/api:v1", image.Unauthorized)
	wrapped.Err = errors.Join(errors.New("resolve"), wrapped.Err)
	withCreds := failed(t, "ghcr.io/acme/api:v1", image.Unauthorized)
	withCreds.Err.(*image.Error).Tried = []image.Attempt{
		{Source: "secret team-a/regcred", Class: image.Unauthorized, StatusCode: 401, Answer: "401 Unauthorized"},
		{Source: "secret team-a/old", Class: image.Forbidden, StatusCode: 403, Answer: "403 Forbidden"},
		{Source: "docker config /etc/pullguard/config.json", Class: image.Unreachable, Answer: "unreachable"},
	}
	withCreds.SkippedCredentials = []string{"secret team-a/gone (not found)"}
	unreadable := failed(t, "ghcr.io/acme/api:v1", image.Unauthorized)
	unreadable.Err.(*image.Error).Reason = `the kubelet cannot read a pull secret of the pod: docker config from secret team-a/regcred: entry "ghcr.io": "auth" is not valid base64`
	unreadable.Err.(*image.Error).Err = image.ErrUnreadablePullSecret
	providerFailed := failed(t, "ghcr.io/acme/api:v1", image.Unreachable)
	providerFailed.Err.(*image.Error).Reason = "credential provider ecr-credential-provider failed: exit status 1"
	providerFailed.Err.(*image.Error).Err = image.ErrCredentialProviderFailed
	providerFailed.Err.(*image.Error).Tried = []image.Attempt{
		{Source: "secret team-a/regcred", Class: image.Unauthorized, StatusCode: 401, Answer: "401 Unauthorized"},
		{Source: "credential provider ecr-credential-provider", Class: image.Unreachable, Answer: "failed: exit status 1"},
	}
	// Parsed as the kubelet parses it: no registry written means Docker Hub.
	hub := func(img string, c image.Class) Result {
		r := failed(t, img, c)
		parsed, err := image.Parse(img)
		if err != nil {
			t.Fatal(err)
		}
		r.Ref = parsed
		r.Err.(*image.Error).Registry = parsed.Registry
		return r
	}
	hubNotFound := hub("acme/api:v1", image.NotFound)
	hubPrivate := hub("billing/invoicer:v3", image.Unauthorized)
	plain := use(t, "ghcr.io/acme/api:v1")
	plain.Facts, plain.Err = nil, errors.New("dial tcp: i/o timeout")
	tests := []struct {
		name             string
		r                Result
		wantClass        image.Class
		wantMsg, wantFix string
	}{{
		name:      "not found with nearby tags",
		r:         notFound,
		wantClass: image.NotFound,
		wantMsg:   `container "app": image "ghcr.io/acme/api:v1.2" not found: registry answered 404 MANIFEST_UNKNOWN (tags nearby: v1.2.0, v1.2.1)`,
		wantFix:   `use an existing tag such as "ghcr.io/acme/api:v1.2.0"`,
	}, {
		name:      "wrapped resolve error keeps its class",
		r:         wrapped,
		wantClass: image.Unauthorized,
		wantMsg:   `container "app": image "ghcr.io/acme/api:v1": registry "ghcr.io" refused to serve it without valid credentials: registry answered something (no credentials for ghcr.io were found; the pod names imagePullSecrets regcred and uses service account "default")`,
		wantFix:   `create a pull secret (kubectl create secret docker-registry regcred --docker-server=ghcr.io --docker-username=USER --docker-password=TOKEN -n team-a) and list it in the pod's imagePullSecrets or in service account "default"'s`,
	}, {
		name:      "a pull secret whose password the registry refuses says so, not \"create a pull secret\"",
		r:         withCreds,
		wantClass: image.Unauthorized,
		wantMsg:   `container "app": image "ghcr.io/acme/api:v1": registry "ghcr.io" refused the credentials it was given: registry answered something (credentials tried: secret team-a/regcred (401 Unauthorized), secret team-a/old (403 Forbidden), docker config /etc/pullguard/config.json (unreachable), secret team-a/gone (not found))`,
		wantFix:   `the registry does not accept the user name and password or token of secret team-a/regcred (wrong, expired or revoked, or for another registry): put valid ones in it (kubectl create secret docker-registry NAME --docker-server=ghcr.io --docker-username=USER --docker-password=TOKEN -n team-a --dry-run=client -o yaml | kubectl apply -f -)`,
	}, {
		name:      "an unreadable pull secret fails every pull",
		r:         unreadable,
		wantClass: image.Unauthorized,
		wantMsg:   `container "app": image "ghcr.io/acme/api:v1" would not be pulled: the kubelet cannot read a pull secret of the pod: docker config from secret team-a/regcred: entry "ghcr.io": "auth" is not valid base64, so the kubelet fails every image pull of the pod`,
		wantFix:   `recreate the pull secret (kubectl create secret docker-registry NAME --docker-server=... --docker-username=... --docker-password=...), or remove it from the pod's imagePullSecrets`,
	}, {
		name:      "a failed credential provider leaves the answer unknown",
		r:         providerFailed,
		wantClass: image.Unreachable,
		wantMsg:   `container "app": image "ghcr.io/acme/api:v1" could not be verified: credential provider ecr-credential-provider failed: exit status 1, and registry "ghcr.io" refused the lookup without its credentials (credentials tried: secret team-a/regcred (401 Unauthorized), credential provider ecr-credential-provider (failed: exit status 1))`,
		wantFix:   `check that pullguard can run the credential provider as the nodes do: its executable in --image-credential-provider-bin-dir, and the cloud identity of pullguard's pod (IRSA, workload identity)`,
	}, {
		name:      "an image without a registry is not found on Docker Hub, and says so",
		r:         hubNotFound,
		wantClass: image.NotFound,
		wantMsg:   `container "app": image "acme/api:v1" (no registry written, so Docker Hub: "docker.io/acme/api:v1") not found: registry answered something`,
		wantFix:   `check the repository and tag for typos, and that the image was pushed before deploying`,
	}, {
		name:      "an image without a registry is refused by Docker Hub, and says so",
		r:         hubPrivate,
		wantClass: image.Unauthorized,
		wantMsg:   `container "app": image "billing/invoicer:v3" (no registry written, so Docker Hub: "docker.io/billing/invoicer:v3"): registry "docker.io" refused to serve it without valid credentials: registry answered something (no credentials for docker.io were found; the pod names imagePullSecrets regcred and uses service account "default")`,
		wantFix:   `create a pull secret (kubectl create secret docker-registry regcred --docker-server=docker.io --docker-username=USER --docker-password=TOKEN -n team-a) and list it in the pod's imagePullSecrets or in service account "default"'s`,
	}, {
		name:      "untyped error is unreachable",
		r:         plain,
		wantClass: image.Unreachable,
		wantMsg:   `container "app": image "ghcr.io/acme/api:v1": registry "ghcr.io" could not be reached: dial tcp: i/o timeout`,
		wantFix:   `check that nodes can resolve and reach "ghcr.io" (DNS, firewall, proxy, CA certificates)`,
	}, {
		name:      "implicit latest suggests the digest in the written form",
		r:         use(t, "nginx"),
		wantClass: image.ImplicitLatest,
		wantMsg:   `container "app": image "nginx" names no tag, so the kubelet pulls ":latest", which can move to another image or vanish at any time`,
		wantFix:   `name an explicit version tag, or pin the digest it has now: "nginx@` + testDigest.String() + `"`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Default().Evaluate(Input{Object: podObject, Results: []Result{tc.r}})
			if len(d.Findings) != 1 {
				t.Fatalf("findings = %+v, want one", d.Findings)
			}
			f := d.Findings[0]
			if diff := cmp.Diff([]string{string(tc.wantClass), tc.wantMsg, tc.wantFix}, []string{string(f.Class), f.Message, f.Fix}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateOnRegistryError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		onErr   v1alpha1.RegistryErrorAction
		actions map[string]Action
		want    Action
	}{
		{onErr: "", want: Warn},
		{onErr: v1alpha1.RegistryErrorAllow, want: Audit},
		{onErr: v1alpha1.RegistryErrorDeny, want: Deny},
		{onErr: v1alpha1.RegistryErrorDeny, actions: map[string]Action{"RateLimited": Warn}, want: Warn},
	}
	for _, tc := range tests {
		t.Run(string(tc.onErr), func(t *testing.T) {
			t.Parallel()
			p := compile(t, v1alpha1.ImagePolicySpec{OnRegistryError: tc.onErr, Actions: tc.actions})
			d := p.Evaluate(Input{Object: podObject, Results: []Result{failed(t, "ghcr.io/a/b:v1", image.RateLimited)}})
			if len(d.Findings) != 1 || d.Findings[0].Action != tc.want {
				t.Errorf("findings = %+v, want one %s", d.Findings, tc.want)
			}
		})
	}
}

func TestEvaluateExempt(t *testing.T) {
	t.Parallel()
	p := compile(t, v1alpha1.ImagePolicySpec{
		ExemptImages:      []v1alpha1.ImagePattern{"registry.k8s.io/*", "docker.io/library/busybox"},
		AllowedRegistries: []v1alpha1.RegistryPattern{"ghcr.io"},
	})
	for _, r := range []Result{
		use(t, "registry.k8s.io/sig/pause"), // nested repository, no tag, other registry
		use(t, "busybox"),                   // Docker Hub written short
	} {
		if d := p.Evaluate(Input{Object: podObject, Results: []Result{r}}); len(d.Findings) != 0 || !d.Allowed {
			t.Errorf("%s: decision %+v, want nothing", r.Use.Image, d)
		}
		if p.Resolves(r.Ref) {
			t.Errorf("%s is exempt, but Resolves says to ask its registry", r.Use.Image)
		}
	}
	if d := p.Evaluate(Input{Object: podObject, Results: []Result{use(t, "busybox2:1")}}); d.Allowed {
		t.Errorf("busybox2 is not exempt, but was allowed: %+v", d)
	}
	// Resolves: only what is neither exempt nor from a disallowed registry.
	for img, want := range map[string]bool{"ghcr.io/a/b:1": true, "busybox2:1": false, "quay.io/x/y:1": false} {
		if got := p.Resolves(use(t, img).Ref); got != want {
			t.Errorf("Resolves(%s) = %v, want %v", img, got, want)
		}
	}
}
