// Package background keeps admitted workloads pullable. Admission checked a
// Deployment's images when it was applied; a week later its tag may be
// deleted, its pull secret expired, its platform dropped from the index, or
// its tag moved to another build, and nothing shows it until a node drains
// and the new pods sit in ImagePullBackOff.
//
// The Watcher checks again, on the elected leader only, every image that
// running workloads name — Deployments, StatefulSets, DaemonSets, CronJobs,
// running Jobs, ReplicaSets and bare Pods, never the Pods or ReplicaSets
// those own — on a jittered interval and whenever a workload's images, a
// pull secret or a service account change. It goes through the one decision
// path admission uses (decide.Decide with decide.SettingFor, the same
// resolvers and policies), so its verdict is the one the webhook would give
// the same object now. Within a cycle each (image, credential identity) is
// asked once, and lookups per registry host are rate limited.
//
// What it finds is shown three ways: an OpenReports Report per namespace
// (openreports.io/v1alpha1, the format Kyverno's Policy Reporter reads),
// updated in place; a Warning Event ImageWouldNotPull on the workload when
// a failing finding appears or changes (never once per cycle); and gauges
// through a Recorder (internal/metrics). A tag that resolves to another
// digest than the workload's running pods run is a finding of its own
// (image.MovedTag, a warning): new pods would run another build.
package background
