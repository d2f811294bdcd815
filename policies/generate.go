package policies

// The API's deepcopy functions and its CRD are generated from the markers in
// v1alpha1 by controller-gen v0.23.0, installed by the Makefile in the
// project's tool cache. Run `go generate ./policies/...` after changing v1alpha1.
//
//go:generate $HOME/.cache/pullguard/bin/controller-gen object paths=./v1alpha1/...
//go:generate $HOME/.cache/pullguard/bin/controller-gen crd paths=./v1alpha1/... output:crd:artifacts:config=crd
