package cluster

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
)

// defaultServiceAccount is the service account of a pod that names none.
const defaultServiceAccount = "default"

// Credentials are those the kubelet would use to pull for a pod of
// namespace, merged with keychain.Merge (the first source with an entry for
// a registry answers):
//
//  1. the pod's imagePullSecrets; when the pod names none, its service
//     account's instead ("" means "default"). The kubelet only ever reads
//     the pod's list: the ServiceAccount admission plugin copies the
//     account's secrets into a pod that names none, and adds nothing to a
//     pod that names some. Merging both would pass images the kubelet then
//     fails to pull.
//  2. the node docker config (Options.NodeDockerConfig).
//
// Cloud keychains (ECR, GCR/Artifact Registry, ACR) are not included.
//
// A secret that is missing, of a type the kubelet ignores, or malformed is
// skipped, as the kubelet skips it; it is still named in Sources, with why
// ("secret team-a/regcred (not found)"), so a 401 message says what was
// tried. With CacheOptions, secrets of the usual non-pull types (Opaque,
// TLS, ...) are never cached and show as "(not found)". Only a failure of
// the reader itself (not NotFound) is an error.
// A nil pod is a pod that names nothing.
func (v *View) Credentials(ctx context.Context, namespace string, pod *workload.PodContext) (resolve.Credentials, error) {
	creds := &credentials{}
	var chains []*keychain.Keychain
	refs, err := v.pullSecretRefs(ctx, namespace, pod, creds)
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		kc, reason, err := v.pullSecret(ctx, namespace, ref)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			creds.unavailable = append(creds.unavailable, ref.source+" ("+reason+")")
			continue
		}
		chains = append(chains, kc)
	}
	if v.node != nil {
		kc, err := v.node.load()
		if err != nil {
			log.FromContext(ctx).V(1).Info("node docker config skipped", "path", v.node.path, "reason", err.Error())
			creds.unavailable = append(creds.unavailable, v.node.source()+" (unreadable)")
		} else {
			chains = append(chains, kc)
		}
	}
	creds.Keychain = keychain.Merge(chains...)
	return creds, nil
}

// secretRef is one pull secret to read, with the source name messages use.
type secretRef struct {
	name   string
	source string
}

// pullSecretRefs lists the secrets the kubelet would read for pod, in order.
// A missing service account is recorded in creds as unavailable.
func (v *View) pullSecretRefs(ctx context.Context, namespace string, pod *workload.PodContext, creds *credentials) ([]secretRef, error) {
	var refs []secretRef
	if pod != nil && len(pod.ImagePullSecrets) > 0 {
		for _, name := range pod.ImagePullSecrets {
			refs = append(refs, secretRef{name: name, source: secretSource(namespace, name)})
		}
		return refs, nil
	}
	saName := defaultServiceAccount
	if pod != nil && pod.ServiceAccountName != "" {
		saName = pod.ServiceAccountName
	}
	saSource := "service account " + namespace + "/" + saName
	var sa corev1.ServiceAccount
	err := v.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: saName}, &sa)
	switch {
	case apierrors.IsNotFound(err):
		creds.unavailable = append(creds.unavailable, saSource+" (not found)")
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get service account %q: %w", namespace+"/"+saName, err)
	}
	for _, s := range sa.ImagePullSecrets {
		if s.Name == "" {
			continue
		}
		refs = append(refs, secretRef{name: s.Name, source: saSource + ": " + secretSource(namespace, s.Name)})
	}
	return refs, nil
}

func secretSource(namespace, name string) string {
	return "secret " + namespace + "/" + name
}

// Why a secret is skipped, as shown in Sources.
const (
	reasonNotFound       = "not found"
	reasonMalformed      = "malformed"
	reasonNotPull        = "not a pull secret"
	reasonNoDockerConfig = "no docker config key"
)

// pullSecret returns the secret's keychain, or why it is skipped. Parsed
// keychains (and parse failures) are memoised by UID and resourceVersion,
// so the hot path does not re-parse JSON for every admission.
func (v *View) pullSecret(ctx context.Context, namespace string, ref secretRef) (*keychain.Keychain, string, error) {
	var s corev1.Secret
	err := v.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, reasonNotFound, nil
	case err != nil:
		return nil, "", fmt.Errorf("get secret %q: %w", namespace+"/"+ref.name, err)
	}
	logger := log.FromContext(ctx).V(1).WithValues("secret", namespace+"/"+ref.name)
	key := pullSecretKey(s.Type)
	if key == "" {
		logger.Info("secret skipped: the kubelet reads only docker config secrets", "type", string(s.Type))
		return nil, reasonNotPull, nil
	}
	data, ok := s.Data[key]
	if !ok || len(data) == 0 {
		logger.Info("secret skipped: no docker config", "key", key)
		return nil, reasonNoDockerConfig, nil
	}
	memoKey := secretKey{uid: s.UID, resourceVersion: s.ResourceVersion, source: ref.source}
	memoable := s.UID != "" && s.ResourceVersion != ""
	if memoable {
		if p, ok := v.secrets.Get(memoKey); ok {
			return p.keychain, p.reason, nil
		}
	}
	p := parsedSecret{}
	kc, err := keychain.Parse(data, ref.source)
	if err != nil {
		// A *keychain.ParseError names fields and offsets, never values.
		var pe *keychain.ParseError
		if !errors.As(err, &pe) {
			return nil, "", fmt.Errorf("parse secret %q: %w", namespace+"/"+ref.name, err)
		}
		logger.Info("secret skipped: malformed docker config", "reason", pe.Reason, "entry", pe.Key)
		p.reason = reasonMalformed
	} else {
		p.keychain = kc
	}
	if memoable {
		v.secrets.Add(memoKey, p)
	}
	return p.keychain, p.reason, nil
}

// secretKey identifies one version of a secret read as one source: the
// source name is part of the parsed keychain.
type secretKey struct {
	uid             types.UID
	resourceVersion string
	source          string
}

// parsedSecret is a keychain, or why there is none.
type parsedSecret struct {
	keychain *keychain.Keychain
	reason   string
}

// pullSecretKey is the data key the kubelet reads for a secret type, or ""
// for types it ignores.
func pullSecretKey(t corev1.SecretType) string {
	switch t {
	case corev1.SecretTypeDockerConfigJson:
		return corev1.DockerConfigJsonKey
	case corev1.SecretTypeDockercfg:
		return corev1.DockerConfigKey
	}
	return ""
}

// credentials is a merged keychain plus the sources that were tried but
// gave nothing. Embedding the keychain keeps its redacting String and Format.
type credentials struct {
	*keychain.Keychain
	unavailable []string
}

// Sources names the sources holding a credential for registry (the first
// is the one sent), then every source that was tried and skipped, with why:
// any of those might have been meant for registry.
func (c *credentials) Sources(registry string) []string {
	return append(c.Keychain.Sources(registry), c.unavailable...)
}
