package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestAddToScheme(t *testing.T) {
	t.Parallel()
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{Kind, Kind + "List"} {
		if !s.Recognizes(GroupVersion.WithKind(kind)) {
			t.Errorf("scheme does not recognize %s", kind)
		}
	}
	obj := &ImagePolicy{Spec: ImagePolicySpec{Actions: map[string]Action{"NotFound": ActionWarn}, Mirrors: []Mirror{{From: "docker.io", To: "m.example.com"}}}}
	cp := obj.DeepCopy()
	cp.Spec.Actions["NotFound"] = ActionDeny
	cp.Spec.Mirrors[0].To = "other.example.com"
	if obj.Spec.Actions["NotFound"] != ActionWarn || obj.Spec.Mirrors[0].To != "m.example.com" {
		t.Error("DeepCopy shares maps or slices with the original")
	}
}
