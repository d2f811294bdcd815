package workload

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// podSpecJSON has one container of each list and every field PodContext
// copies.
const podSpecJSON = `{
  "serviceAccountName": "builder",
  "imagePullSecrets": [{"name": "regcred"}, {"name": ""}, {"name": "ghcr"}],
  "nodeSelector": {"kubernetes.io/arch": "arm64"},
  "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": [{"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}]}}},
  "tolerations": [{"key": "arch", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"}],
  "initContainers": [{"name": "migrate", "image": "ghcr.io/acme/migrate:v1"}],
  "containers": [{"name": "api", "image": "ghcr.io/acme/api:v1.2"}, {"name": "sidecar", "image": "envoyproxy/envoy:v1.31.0"}],
  "ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36"}]
}`

// wantContext is podSpecJSON's PodContext at specPointer.
func wantContext(specPointer string) *PodContext {
	return &PodContext{
		SpecPointer:        specPointer,
		ImagePullSecrets:   []string{"regcred", "ghcr"},
		ServiceAccountName: "builder",
		NodeSelector:       map[string]string{"kubernetes.io/arch": "arm64"},
		RequiredNodeAffinity: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}}},
		}}},
		Tolerations: []corev1.Toleration{{Key: "arch", Operator: corev1.TolerationOpEqual, Value: "arm64", Effect: corev1.TaintEffectNoSchedule}},
	}
}

// wantUses is podSpecJSON's uses at specPointer.
func wantUses(specPointer string) []ImageUse {
	pod := wantContext(specPointer)
	return []ImageUse{
		{Container: "migrate", Kind: InitContainer, Image: "ghcr.io/acme/migrate:v1", Pointer: specPointer + "/initContainers/0/image", Pod: pod},
		{Container: "api", Kind: Container, Image: "ghcr.io/acme/api:v1.2", Pointer: specPointer + "/containers/0/image", Pod: pod},
		{Container: "sidecar", Kind: Container, Image: "envoyproxy/envoy:v1.31.0", Pointer: specPointer + "/containers/1/image", Pod: pod},
		{Container: "debugger", Kind: EphemeralContainer, Image: "busybox:1.36", Pointer: specPointer + "/ephemeralContainers/0/image", Pod: pod},
	}
}

// wrap puts podSpecJSON where kind keeps it ("spec" is the path of the
// object that holds the spec, outermost first).
func wrap(apiVersion, kind string, path ...string) string {
	body := podSpecJSON
	for i := len(path) - 1; i >= 0; i-- {
		body = `{"` + path[i] + `": ` + body + `}`
	}
	// body is now {"<path[0]>": ...}; splice the type and metadata in front.
	return `{"apiVersion": "` + apiVersion + `", "kind": "` + kind + `", "metadata": {"name": "app", "namespace": "team-a"}, ` + body[1:]
}

func TestImages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		raw      string
		wantObj  Object
		wantUses []ImageUse
	}{
		{
			name:     "pod",
			raw:      wrap("v1", "Pod", "spec"),
			wantObj:  Object{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec"),
		},
		{
			name:     "deployment",
			raw:      wrap("apps/v1", "Deployment", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/template/spec"),
		},
		{
			name:     "statefulset",
			raw:      wrap("apps/v1", "StatefulSet", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "apps/v1", Kind: "StatefulSet", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/template/spec"),
		},
		{
			name:     "daemonset",
			raw:      wrap("apps/v1", "DaemonSet", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/template/spec"),
		},
		{
			name:     "replicaset",
			raw:      wrap("apps/v1", "ReplicaSet", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "apps/v1", Kind: "ReplicaSet", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/template/spec"),
		},
		{
			name:     "replicationcontroller",
			raw:      wrap("v1", "ReplicationController", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "v1", Kind: "ReplicationController", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/template/spec"),
		},
		{
			name:     "podtemplate",
			raw:      wrap("v1", "PodTemplate", "template", "spec"),
			wantObj:  Object{APIVersion: "v1", Kind: "PodTemplate", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/template/spec"),
		},
		{
			name:     "job",
			raw:      wrap("batch/v1", "Job", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "batch/v1", Kind: "Job", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/template/spec"),
		},
		{
			name:     "cronjob",
			raw:      wrap("batch/v1", "CronJob", "spec", "jobTemplate", "spec", "template", "spec"),
			wantObj:  Object{APIVersion: "batch/v1", Kind: "CronJob", Namespace: "team-a", Name: "app"},
			wantUses: wantUses("/spec/jobTemplate/spec/template/spec"),
		},
		{
			name:    "pod without containers",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}, "spec": {"serviceAccountName": "sa"}}`,
			wantObj: Object{APIVersion: "v1", Kind: "Pod", Name: "empty"},
		},
		{
			name:    "replicationcontroller without template",
			raw:     `{"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"}, "spec": {"replicas": 1}}`,
			wantObj: Object{APIVersion: "v1", Kind: "ReplicationController", Name: "rc"},
		},
		{
			name:    "pod from a controller has only generateName",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "api-7d9f5-", "namespace": "team-a"}, "spec": {"containers": [{"name": "api", "image": "api:v1"}]}}`,
			wantObj: Object{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", GenerateName: "api-7d9f5-"},
			wantUses: []ImageUse{{Container: "api", Kind: Container, Image: "api:v1", Pointer: "/spec/containers/0/image",
				Pod: &PodContext{SpecPointer: "/spec"}}},
		},
		{
			name:    "deprecated serviceAccount is used when serviceAccountName is empty",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"serviceAccount": "old", "containers": [{"name": "c", "image": "i:1"}]}}`,
			wantObj: Object{APIVersion: "v1", Kind: "Pod", Name: "p"},
			wantUses: []ImageUse{{Container: "c", Kind: Container, Image: "i:1", Pointer: "/spec/containers/0/image",
				Pod: &PodContext{SpecPointer: "/spec", ServiceAccountName: "old"}}},
		},
		{
			// The API server ignores "Image"; reading it would check an image
			// that is never pulled and miss the empty one that is.
			name:    "field names match case-sensitively and unknown fields are ignored",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"futureField": true, "containers": [{"name": "c", "Image": "evil:1", "extra": 1}]}}`,
			wantObj: Object{APIVersion: "v1", Kind: "Pod", Name: "p"},
			wantUses: []ImageUse{{Container: "c", Kind: Container, Image: "", Pointer: "/spec/containers/0/image",
				Pod: &PodContext{SpecPointer: "/spec"}}},
		},
		{
			name:    "a duplicated image key keeps the last value, as the API server does",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "first:1", "image": "last:1"}]}}`,
			wantObj: Object{APIVersion: "v1", Kind: "Pod", Name: "p"},
			wantUses: []ImageUse{{Container: "c", Kind: Container, Image: "last:1", Pointer: "/spec/containers/0/image",
				Pod: &PodContext{SpecPointer: "/spec"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obj, uses, err := Images([]byte(tt.raw))
			if err != nil {
				t.Fatalf("Images() error = %v", err)
			}
			if diff := cmp.Diff(tt.wantObj, obj); diff != "" {
				t.Errorf("Images() object (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantUses, uses); diff != "" {
				t.Errorf("Images() uses (-want +got):\n%s", diff)
			}
			for _, u := range uses {
				if u.Pod != uses[0].Pod {
					t.Errorf("use %q has its own PodContext; want one shared by the spec", u.Pointer)
				}
			}
		})
	}
}

func TestImagesNotWorkload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     string
		wantObj Object
		wantMsg string
	}{
		{
			name:    "configmap",
			raw:     `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "ns"}, "data": {"image": "x"}}`,
			wantObj: Object{APIVersion: "v1", Kind: "ConfigMap", Namespace: "ns", Name: "cfg"},
			wantMsg: "ConfigMap/ns/cfg (v1): not a workload",
		},
		{
			name:    "custom resource",
			raw:     `{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"containers": [{"image": "x"}]}}`,
			wantObj: Object{APIVersion: "example.com/v1", Kind: "Widget", Name: "w"},
			wantMsg: "Widget/w (example.com/v1): not a workload",
		},
		{
			name:    "known kind in a removed version",
			raw:     `{"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "old"}}`,
			wantObj: Object{APIVersion: "extensions/v1beta1", Kind: "Deployment", Name: "old"},
			wantMsg: "Deployment/old (extensions/v1beta1): not a workload",
		},
		{
			name:    "no kind",
			raw:     `{"replicaCount": 2, "image": {"repository": "nginx"}}`,
			wantMsg: "object without apiVersion or kind: not a workload",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obj, uses, err := Images([]byte(tt.raw))
			if !errors.Is(err, ErrNotWorkload) {
				t.Fatalf("Images() error = %v, want one wrapping ErrNotWorkload", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Images() error = %q, want %q", err, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantObj, obj); diff != "" {
				t.Errorf("Images() object (-want +got):\n%s", diff)
			}
			if uses != nil {
				t.Errorf("Images() uses = %v, want none", uses)
			}
		})
	}
}

func TestImagesMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		raw     string
		wantSub string
	}{
		{name: "truncated JSON", raw: `{"apiVersion": "v1", "kind": "Pod", "spec": {`, wantSub: "decoding object: "},
		{name: "YAML is not JSON", raw: "apiVersion: v1\nkind: Pod\n", wantSub: "decoding object: "},
		{name: "not an object", raw: `["a"]`, wantSub: "decoding object: "},
		{
			name:    "image of the wrong type",
			raw:     `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": 5}]}}`,
			wantSub: "decoding Pod/p (v1): ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, uses, err := Images([]byte(tt.raw))
			if err == nil || errors.Is(err, ErrNotWorkload) {
				t.Fatalf("Images() error = %v, want a decoding error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantSub) {
				t.Errorf("Images() error = %q, want prefix %q", err, tt.wantSub)
			}
			if uses != nil {
				t.Errorf("Images() uses = %v, want none", uses)
			}
		})
	}
}

func TestPodSpecOfNil(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		obj         runtime.Object
		wantPointer string
		wantOK      bool
	}{
		{name: "nil interface", obj: nil},
		{name: "typed nil pod", obj: (*corev1.Pod)(nil), wantPointer: "/spec", wantOK: true},
		{name: "typed nil deployment", obj: (*appsv1.Deployment)(nil), wantPointer: "/spec/template/spec", wantOK: true},
		{name: "replicationcontroller without template", obj: &corev1.ReplicationController{}, wantPointer: "/spec/template/spec", wantOK: true},
		{name: "not a workload", obj: &corev1.ConfigMap{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec, pointer, ok := PodSpecOf(tt.obj)
			if spec != nil || pointer != tt.wantPointer || ok != tt.wantOK {
				t.Errorf("PodSpecOf() = %v, %q, %v; want nil, %q, %v", spec, pointer, ok, tt.wantPointer, tt.wantOK)
			}
			if uses := Uses(spec, pointer); uses != nil {
				t.Errorf("Uses() = %v, want none", uses)
			}
		})
	}
}

func TestUsesCopiesContext(t *testing.T) {
	t.Parallel()
	spec := &corev1.PodSpec{
		NodeSelector: map[string]string{"a": "1"},
		Tolerations:  []corev1.Toleration{{Key: "k"}},
		Containers:   []corev1.Container{{Name: "c", Image: "i:1"}},
	}
	uses := Uses(spec, "/spec")
	spec.NodeSelector["a"] = "changed"
	spec.Tolerations[0].Key = "changed"
	want := &PodContext{SpecPointer: "/spec", NodeSelector: map[string]string{"a": "1"}, Tolerations: []corev1.Toleration{{Key: "k"}}}
	if diff := cmp.Diff(want, uses[0].Pod); diff != "" {
		t.Errorf("PodContext changed with the spec (-want +got):\n%s", diff)
	}
}

func TestJoinPointer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base   string
		tokens []string
		want   string
	}{
		{base: "/spec", tokens: []string{"containers", "0", "image"}, want: "/spec/containers/0/image"},
		{base: "", tokens: []string{"a/b", "m~n", "~1"}, want: "/a~1b/m~0n/~01"},
	}
	for _, tt := range tests {
		if got := joinPointer(tt.base, tt.tokens...); got != tt.want {
			t.Errorf("joinPointer(%q, %q) = %q, want %q", tt.base, tt.tokens, got, tt.want)
		}
	}
}

func TestObjectString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		obj  Object
		want string
	}{
		{obj: Object{Kind: "Pod", Namespace: "ns", Name: "p"}, want: "Pod/ns/p"},
		{obj: Object{Kind: "Namespace", Name: "ns"}, want: "Namespace/ns"},
		{obj: Object{Kind: "Pod", Namespace: "ns", GenerateName: "api-"}, want: "Pod/ns/api-*"},
	}
	for _, tt := range tests {
		if got := tt.obj.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.obj, got, tt.want)
		}
	}
}

func FuzzImages(f *testing.F) {
	f.Add([]byte(wrap("batch/v1", "CronJob", "spec", "jobTemplate", "spec", "template", "spec")))
	f.Add([]byte(wrap("v1", "Pod", "spec")))
	f.Add([]byte(`{"apiVersion": "v1", "kind": "ReplicationController", "spec": {"template": null}}`))
	f.Add([]byte(`{"apiVersion": "v1", "kind": "ConfigMap"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		obj, uses, err := Images(raw)
		if err != nil && uses != nil {
			t.Errorf("Images() = %v uses with error %v", uses, err)
		}
		for _, u := range uses {
			if u.Pod == nil || !strings.HasPrefix(u.Pointer, u.Pod.SpecPointer+"/") || !strings.HasSuffix(u.Pointer, "/image") {
				t.Errorf("Images() use %+v of %v: pointer not below its spec", u, obj)
			}
		}
	})
}
