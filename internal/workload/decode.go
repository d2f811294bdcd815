package workload

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// ErrNotWorkload is wrapped by the error Decode and Images return for an
// object that carries no PodSpec: another kind (ConfigMap, a custom
// resource), a version this package does not know (extensions/v1beta1), or
// no apiVersion or kind at all (a Helm values file). Callers skip such
// objects; it is not a finding to report.
var ErrNotWorkload = errors.New("not a workload")

// deserializer decodes only JSON (what an AdmissionReview carries and what
// the manifest reader produces) into the typed objects of the workload
// kinds. It is lenient about unknown fields (the API server owns the schema)
// but matches field names case-sensitively, exactly as the API server does,
// so "Image" is never read as "image"; a duplicated key keeps its last
// value, again as the API server does.
var deserializer = sync.OnceValues(func() (runtime.Decoder, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building the workload scheme: %w", err)
		}
	}
	return json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme, scheme, json.SerializerOptions{}), nil
})

// Decode decodes a JSON object in its typed k8s.io/api form and returns
// its name and its pod spec with the spec's JSON pointer (nil for a
// workload without a pod template, such as a ReplicationController
// without one). An object that is not a workload returns what is known of
// its Object and an error wrapping ErrNotWorkload; malformed JSON, or a
// workload whose fields have the wrong types, returns any other error.
func Decode(raw []byte) (o Object, spec *corev1.PodSpec, specPointer string, err error) {
	dec, err := deserializer()
	if err != nil {
		return Object{}, nil, "", err
	}
	// The decoder would say "cannot unmarshal array into Go value of type
	// struct { APIVersion string ...", which helps nobody.
	if trimmed := bytes.TrimLeft(raw, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return Object{}, nil, "", errors.New("decoding object: not a JSON object")
	}
	obj, gvk, err := dec.Decode(raw, nil, nil)
	if err != nil {
		o = objectOf(raw, gvk)
		// The decoder's own errors for these quote the whole object; ours
		// name it.
		switch {
		case runtime.IsMissingKind(err), runtime.IsMissingVersion(err):
			return o, nil, "", fmt.Errorf("object without apiVersion or kind: %w", ErrNotWorkload)
		case runtime.IsNotRegisteredError(err):
			return o, nil, "", fmt.Errorf("%s: %w", describe(o), ErrNotWorkload)
		case o.Kind != "":
			return o, nil, "", fmt.Errorf("decoding %s: %w", describe(o), err)
		default:
			return o, nil, "", fmt.Errorf("decoding object: %w", err)
		}
	}
	o = Object{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}
	if m, ok := obj.(metav1.Object); ok {
		o.Namespace, o.Name, o.GenerateName = m.GetNamespace(), m.GetName(), m.GetGenerateName()
	}
	spec, specPointer, ok := PodSpecOf(obj)
	if !ok {
		return o, nil, "", fmt.Errorf("%s: %w", describe(o), ErrNotWorkload)
	}
	return o, spec, specPointer, nil
}

// Images decodes raw and lists the image uses of its PodSpec: the one call
// the webhook and `pullguard check` make per object. A workload without a
// pod template (a ReplicationController without one) has no uses and no
// error.
func Images(raw []byte) (Object, []ImageUse, error) {
	o, spec, pointer, err := Decode(raw)
	if err != nil {
		return o, nil, err
	}
	return o, Uses(spec, pointer), nil
}

// objectOf names an object that did not decode as a workload from its
// metadata alone, so callers can still say what they skipped.
func objectOf(raw []byte, gvk *schema.GroupVersionKind) Object {
	var o Object
	if gvk != nil {
		o.APIVersion, o.Kind = gvk.GroupVersion().String(), gvk.Kind
	}
	var meta metav1.PartialObjectMetadata
	if utiljson.Unmarshal(raw, &meta) == nil {
		o.Namespace, o.Name, o.GenerateName = meta.Namespace, meta.Name, meta.GenerateName
	}
	return o
}

// describe is Object.String with the apiVersion, which matters when a known
// kind arrives in an unknown version.
func describe(o Object) string {
	return fmt.Sprintf("%s (%s)", o, o.APIVersion)
}
