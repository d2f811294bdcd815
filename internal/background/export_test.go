package background

import (
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FromObjects is Collect on objects already listed, for tests.
func FromObjects(objs ...client.Object) []Workload {
	ros := make([]runtime.Object, len(objs))
	for i, o := range objs {
		ros[i] = o
	}
	return fromObjects(ros)
}

// Slim is the cache transform, for tests.
var Slim = slim
