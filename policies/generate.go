package policies

// The API's deepcopy functions and its CRD are generated from the markers in
// v1alpha1 by controller-gen v0.23.0, installed by the Makefile in the
// project's tool cache. Run `make generate` (which sets $CONTROLLER_GEN) after
// changing v1alpha1.
//
//go:generate $CONTROLLER_GEN object paths=./v1alpha1/...
//go:generate $CONTROLLER_GEN crd paths=./v1alpha1/... output:crd:artifacts:config=crd
