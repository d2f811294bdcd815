package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/policies"
)

// answer is what a test compares of a response: the denial message's
// heading and the start of each of its lines (up to the image), so a test
// pins which uses were denied without repeating the policies' sentences.
type answer struct {
	Allowed  bool
	Code     int32
	Heading  string
	Denied   []string
	Warnings []string
	Audit    map[string]string
}

func answerOf(t *testing.T, resp admission.Response) answer {
	t.Helper()
	a := answer{Allowed: resp.Allowed, Warnings: resp.Warnings, Audit: resp.AuditAnnotations}
	if resp.Result != nil {
		a.Code = resp.Result.Code
		lines := strings.Split(resp.Result.Message, "\n")
		a.Heading = lines[0]
		for _, l := range lines[1:] {
			if !strings.Contains(l, "; fix: ") {
				t.Errorf("denial line %q has no fix", l)
			}
			head, _, _ := strings.Cut(l, ": image ")
			a.Denied = append(a.Denied, head)
		}
	}
	for _, w := range resp.Warnings {
		if n := utf8.RuneCountInString(w); n >= 120 {
			t.Errorf("warning %q is %d characters, want under 120", w, n)
		}
	}
	return a
}

func TestValidator(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	audit := mustPolicy(t, "  mode: Audit\n")
	ephemeral := func(images ...string) []byte {
		p := podObject(f.good)
		for i, img := range images {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: fmt.Sprintf("debug%d", i), Image: img},
			})
		}
		return raw(t, p)
	}
	manyLatest := make([]string, 20)
	for i := range manyLatest {
		manyLatest[i] = f.latest
	}
	latestWarning := func(container string) string {
		return fmt.Sprintf("pullguard: container %q: image %q: mutable :latest; name a version tag or digest", container, f.latest)
	}
	var wantMany []string
	for i := range 15 {
		wantMany = append(wantMany, latestWarning(fmt.Sprintf("c%d", i)))
	}
	wantMany = append(wantMany, "pullguard: 5 more image warnings; pullguard check lists them all")

	tests := []struct {
		name string
		view *fakeView
		req  admission.Request
		want answer
	}{{
		name: "pod with an existing image is allowed",
		req:  create(podKind, raw(t, podObject(f.good))),
		want: answer{Allowed: true, Code: http.StatusOK},
	}, {
		name: "pod with a missing tag is denied",
		req:  create(podKind, raw(t, podObject(f.good, f.missing))),
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 1 image use of Pod/team-a/api:`,
			Denied:  []string{`- [NotFound] container "c1"`}},
	}, {
		name: "deployment template is checked",
		req:  create(gvk("apps", "v1", "Deployment"), raw(t, deployment(f.missing, f.missing))),
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 2 image uses of Deployment/team-a/api:`,
			Denied:  []string{`- [NotFound] container "c0"`, `- [NotFound] container "c1"`}},
	}, {
		name: "cronjob template is checked",
		req:  create(gvk("batch", "v1", "CronJob"), raw(t, cronJob(f.missing))),
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 1 image use of CronJob/team-a/nightly:`,
			Denied:  []string{`- [NotFound] container "c0"`}},
	}, {
		name: "implicit latest is denied by the built-in policy",
		req:  create(podKind, raw(t, podObject(f.reg.Ref("acme/api")))),
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 1 image use of Pod/team-a/api:`,
			Denied:  []string{`- [ImplicitLatest] container "c0"`}},
	}, {
		name: "update leaves an unchanged image alone",
		req:  update(podKind, "", raw(t, podObject(f.missing)), raw(t, podObject(f.missing))),
		want: answer{Allowed: true, Code: http.StatusOK, Heading: SkippedNoNewImage.Message()},
	}, {
		name: "update judges a changed image",
		req:  update(gvk("apps", "v1", "Deployment"), "", raw(t, deployment(f.good, f.good)), raw(t, deployment(f.good, f.missing))),
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 1 image use of Deployment/team-a/api:`,
			Denied:  []string{`- [NotFound] container "c1"`}},
	}, {
		name: "ephemeral container added by kubectl debug is judged",
		req:  update(podKind, "ephemeralcontainers", ephemeral(), ephemeral(f.missing)),
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 1 image use of Pod/team-a/api:`,
			Denied:  []string{`- [NotFound] container "debug0"`}},
	}, {
		name: "ephemeral containers already there are left alone",
		req:  update(podKind, "ephemeralcontainers", ephemeral(f.missing), ephemeral(f.missing, f.good)),
		want: answer{Allowed: true, Code: http.StatusOK},
	}, {
		name: "delete is allowed",
		req: admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "d", Kind: podKind, Namespace: "team-a", Operation: admissionv1.Delete,
			OldObject: runtime.RawExtension{Raw: raw(t, podObject(f.missing))},
		}},
		want: answer{Allowed: true, Code: http.StatusOK, Heading: SkippedOperation.Message()},
	}, {
		name: "status update is allowed",
		req:  update(podKind, "status", raw(t, podObject(f.good)), raw(t, podObject(f.missing))),
		want: answer{Allowed: true, Code: http.StatusOK, Heading: SkippedSubresource.Message()},
	}, {
		name: "malformed object is a bad request",
		req:  create(podKind, []byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":7}}`)),
		want: answer{Code: http.StatusBadRequest,
			Heading: `bad admission review: decoding the object: decoding Pod/ (v1): json: cannot unmarshal number into Go struct field PodSpec.spec.containers of type []v1.Container`},
	}, {
		name: "not JSON is a bad request",
		req:  create(podKind, []byte(`apiVersion: v1`)),
		want: answer{Code: http.StatusBadRequest,
			Heading: `bad admission review: decoding the object: decoding object: not a JSON object`},
	}, {
		name: "empty object is a bad request",
		req:  create(podKind, nil),
		want: answer{Code: http.StatusBadRequest, Heading: `bad admission review: the request carries no object`},
	}, {
		name: "object of another kind than the request is a bad request",
		req:  create(podKind, raw(t, deployment(f.good))),
		want: answer{Code: http.StatusBadRequest,
			Heading: `bad admission review: the object is "apps/v1, Kind=Deployment" but the request is for "v1, Kind=Pod"`},
	}, {
		name: "object without kind is a bad request",
		req:  create(podKind, []byte(`{"spec":{"containers":[{"name":"c","image":"x"}]}}`)),
		want: answer{Code: http.StatusBadRequest,
			Heading: `bad admission review: the object is "an object without kind" but the request is for "v1, Kind=Pod"`},
	}, {
		name: "kind without a pod spec is allowed",
		req:  create(gvk("", "v1", "ConfigMap"), []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"image":"x"}}`)),
		want: answer{Allowed: true, Code: http.StatusOK, Heading: SkippedNotWorkload.Message()},
	}, {
		name: "latest tag warns",
		req:  create(podKind, raw(t, podObject(f.good, f.latest))),
		want: answer{Allowed: true, Code: http.StatusOK, Warnings: []string{latestWarning("c1")}},
	}, {
		name: "many warnings are capped",
		req:  create(podKind, raw(t, podObject(manyLatest...))),
		want: answer{Allowed: true, Code: http.StatusOK, Warnings: wantMany},
	}, {
		name: "audit mode records what it would deny, without warnings",
		view: &fakeView{policy: audit},
		req:  create(podKind, raw(t, podObject(f.good, f.missing))),
		want: answer{Allowed: true, Code: http.StatusOK, Audit: map[string]string{
			"findings": fmt.Sprintf(`{"policy":"test","findings":[{"container":"c1","image":%q,"class":"NotFound"}]}`, f.missing),
		}},
	}, {
		name: "a failing cluster view allows unchecked, and says so",
		view: &fakeView{err: errors.New("informer not synced")},
		req:  create(podKind, raw(t, podObject(f.missing))),
		want: answer{Allowed: true, Code: http.StatusOK,
			Warnings: []string{"pullguard could not check the images: reading the image policy: informer not synced"}},
	}, {
		name: "a panic is answered",
		view: &fakeView{panics: true},
		req:  create(podKind, raw(t, podObject(f.missing))),
		want: answer{Allowed: true, Code: http.StatusOK,
			Warnings: []string{"pullguard could not check the images: internal error: cluster view broke"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			view := tt.view
			if view == nil {
				view = &fakeView{platforms: nodes}
			}
			h := handlersFor(view, f.lookup, nil)
			resp := h.Validator().Handle(context.Background(), tt.req)
			if diff := cmp.Diff(tt.want, answerOf(t, resp)); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if len(resp.Patches) != 0 || resp.Patch != nil {
				t.Errorf("validator patched: %v", resp.Patches)
			}
		})
	}
}

// TestValidatorEveryKind checks each workload kind the rules name.
func TestValidatorEveryKind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tmpl := template(f.missing)
	meta := metav1.ObjectMeta{Name: "w", Namespace: "team-a"}
	tests := []struct {
		kind metav1.GroupVersionKind
		obj  any
	}{
		{podKind, podObject(f.missing)},
		{gvk("", "v1", "PodTemplate"), &corev1.PodTemplate{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodTemplate"}, ObjectMeta: meta, Template: tmpl}},
		{gvk("", "v1", "ReplicationController"), &corev1.ReplicationController{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ReplicationController"}, ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Template: &tmpl}}},
		{gvk("apps", "v1", "Deployment"), deployment(f.missing)},
		{gvk("apps", "v1", "StatefulSet"), &appsv1.StatefulSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"}, ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: tmpl}}},
		{gvk("apps", "v1", "DaemonSet"), &appsv1.DaemonSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"}, ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: tmpl}}},
		{gvk("apps", "v1", "ReplicaSet"), &appsv1.ReplicaSet{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}, ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: tmpl}}},
		{gvk("batch", "v1", "Job"), &batchv1.Job{TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"}, ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}}},
		{gvk("batch", "v1", "CronJob"), cronJob(f.missing)},
	}
	for _, tt := range tests {
		t.Run(tt.kind.Kind, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := handlersFor(&fakeView{}, f.lookup, rec)
			resp := h.Validator().Handle(context.Background(), create(tt.kind, raw(t, tt.obj)))
			got := answerOf(t, resp)
			if got.Allowed || got.Code != http.StatusForbidden || !strings.Contains(got.Heading, tt.kind.Kind+"/team-a/") {
				t.Errorf("response %+v, want a denial naming the %s", got, tt.kind.Kind)
			}
			if diff := cmp.Diff([]string{`- [NotFound] container "c0"`}, got.Denied); diff != "" {
				t.Errorf("denied (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tt.kind.Kind + " validate denied checked"}, rec.admissions); diff != "" {
				t.Errorf("recorded admissions (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"NotFound Deny"}, rec.findings); diff != "" {
				t.Errorf("recorded findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDryRun: sideEffects None means a dry run gets the real answer.
func TestDryRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := handlersFor(&fakeView{}, f.lookup, nil)
	for _, images := range [][]string{{f.good}, {f.missing}, {f.latest}} {
		req := create(podKind, raw(t, podObject(images...)))
		real := h.Validator().Handle(context.Background(), req)
		dry := true
		req.DryRun = &dry
		got := h.Validator().Handle(context.Background(), req)
		if diff := cmp.Diff(real, got); diff != "" {
			t.Errorf("%v: dry run answer differs (-real +dry):\n%s", images, diff)
		}
	}
}

// TestCredentials: the pod's credentials from the view reach the
// registry, and a denial for missing credentials says what was tried; the
// credentials themselves never appear.
func TestCredentials(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.WithBasicAuth("robot", "s3cret-token"))
	reg.PushImage(t, "private/api:v1", amd64)
	cfg, err := keychain.Parse(reg.DockerConfig(), "secret team-a/regcred", keychain.ConfigJSON)
	if err != nil {
		t.Fatal(err)
	}
	creds := keychain.New(cfg)
	lookup := lookupFor(reg.Host)
	obj := raw(t, podObject(reg.Ref("private/api:v1")))
	tests := []struct {
		name string
		view *fakeView
		want answer
	}{{
		name: "with the pull secret",
		view: &fakeView{creds: creds},
		want: answer{Allowed: true, Code: http.StatusOK},
	}, {
		name: "without",
		view: &fakeView{},
		want: answer{Code: http.StatusForbidden,
			Heading: `image policy "(built-in)" denies 1 image use of Pod/team-a/api:`,
			Denied:  []string{`- [Unauthorized] container "c0"`}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := handlersFor(tt.view, lookup, nil).Validator().Handle(context.Background(), create(podKind, obj))
			if diff := cmp.Diff(tt.want, answerOf(t, resp)); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if resp.Result != nil && strings.Contains(resp.Result.Message, "s3cret") {
				t.Errorf("response carries the password: %q", resp.Result.Message)
			}
		})
	}
}

func TestAuditAnnotationIsBounded(t *testing.T) {
	t.Parallel()
	var findings []policies.Finding
	for i := range 100 {
		findings = append(findings, policies.Finding{
			Container: fmt.Sprintf("c%d", i), Image: "ghcr.io/acme/" + strings.Repeat("x", 300) + ":v1",
			Class: "NotFound", Action: policies.Audit,
		})
	}
	got := auditAnnotation(policies.Default(), findings)
	if len(got) > maxAuditAnnotation {
		t.Errorf("annotation is %d bytes, want at most %d", len(got), maxAuditAnnotation)
	}
	if !strings.Contains(got, `"omitted":`) || !strings.Contains(got, `"container":"c0"`) {
		t.Errorf("annotation %q should keep the first findings and count the rest", got)
	}
	if got := auditAnnotation(policies.Default(), findings[:0]); got != "" {
		t.Errorf("annotation without audit findings = %q, want none", got)
	}
}

// Every finding is one structured info line, denials and audits alike.
func TestValidatorLogsFindings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	h := handlersFor(&fakeView{policy: mustPolicy(t, "  actions: {LatestTag: Audit}\n"), platforms: nodes}, f.lookup, nil)
	ctx := logr.NewContext(context.Background(), log)
	resp := h.Validator().Handle(ctx, create(podKind, raw(t, podObject(f.missing, f.latest))))
	if resp.Allowed {
		t.Fatal("a missing tag was allowed")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		`"msg"="image finding" "object"="Pod/team-a/api" "container"="c0" "image"="` + f.missing + `" "class"="NotFound" "action"="Deny"`,
		`"container"="c1" "image"="` + f.latest + `" "class"="LatestTag" "action"="Audit"`,
	}
	all := strings.Join(lines, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("log lacks %s:\n%s", w, all)
		}
	}
}
