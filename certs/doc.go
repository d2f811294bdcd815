// Package certs keeps the webhook server's serving certificate when no
// cert-manager is installed: a self-signed CA and a serving certificate kept
// in one Secret, written into the webhook server's CertDir (which
// controller-runtime's certwatcher reloads), and the CA published as the
// caBundle of pullguard's webhook configurations.
//
// Every replica runs Bootstrap before its webhook server starts and then
// NewRunnable, so each one writes its own CertDir from the shared Secret.
// The Secret is the only shared state: replicas that race to create it agree
// through the API server (one Create wins, the others read the winner's), and
// updates use the Secret's resourceVersion, so no write is lost.
//
// RBAC the Helm chart must grant the service account (namespaced Role for the
// Secret, ClusterRole for the configurations):
//
//	# Role in the release namespace
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  resourceNames: ["<secretName>"]
//	  verbs: ["get", "watch", "update"]
//	# create cannot be restricted by resourceNames (the name is not known to
//	# the authorizer before the object exists), so it is granted on all
//	# Secrets of the release namespace only.
//	- apiGroups: [""]
//	  resources: ["secrets"]
//	  verbs: ["create"]
//	# ClusterRole
//	- apiGroups: ["admissionregistration.k8s.io"]
//	  resources: ["mutatingwebhookconfigurations", "validatingwebhookconfigurations"]
//	  resourceNames: ["pullguard"]
//	  verbs: ["get", "watch", "patch"]
//
// watch with resourceNames is authorized because the watches select the one
// object by metadata.name.
package certs
