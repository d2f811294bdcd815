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
//
// Why not cert-controller's rotator (github.com/open-policy-agent/cert-controller,
// pkg/rotator, as of v0.16.0, which Gatekeeper uses): it builds with this
// module's Kubernetes versions, but it cannot keep what this package's tests
// pin. It never creates the Secret (refreshCertIfNeeded Gets and Updates
// one the chart must ship), so there is no create race for one replica to
// win. It never writes CertDir (ensureCertsMounted only waits for the
// kubelet to mount the Secret), so a serve run outside a pod has no files
// and the webhook server cannot start before the kubelet's sync.
// refreshCerts replaces ca.crt with the new CA alone, so replicas still
// serving the old CA's certificate are refused until they reload.
// ReconcileWH.ensureCerts Updates every configuration on every reconcile
// instead of only when the caBundle differs. CreateCertPEM sets DNS names
// only (no IP addresses, which --self-signed-host 127.0.0.1 needs) and
// ValidCert checks one DNS name, so a changed name list is not reissued.
// Its cache lists every Secret of the namespace and every webhook
// configuration of the cluster, wider than the RBAC above. Times come from
// time.Now, so renewal and CA rotation cannot be tested with a clock.
//
// The key encoding and parsing are client-go's keyutil; the CA and serving
// certificates are signed here (Authority) because client-go's cert
// package fixes a CA's validity to ten years of wall-clock time and cannot
// sign a certificate with an existing CA.
package certs
