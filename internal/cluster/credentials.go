package cluster

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/internal/workload"
)

// defaultServiceAccount is the service account of a pod that names none.
const defaultServiceAccount = "default"

// Credentials are those the kubelet would try to pull for a pod of
// namespace (k8s.io/kubernetes pkg/kubelet/images image_manager.go and
// pkg/credentialprovider/secrets):
//
//  1. the pod's imagePullSecrets, all in ONE keyring (keys are ordered
//     across secrets, most specific first); when the pod names none, its
//     service account's instead ("" means "default"). The kubelet only
//     ever reads the pod's list: the ServiceAccount admission plugin
//     copies the account's secrets into a pod that names none, and adds
//     nothing to a pod that names some. Merging both would pass images the
//     kubelet then fails to pull.
//  2. then, appended, the node docker config (Options.NodeDockerConfig),
//     a keyring of its own;
//  3. then, appended, what the credential provider plugins answer for the
//     image (Options.CredentialProviders), one keyring across plugins
//     (image_manager.go: secrets, then the node keyring, then the external
//     provider keyring).
//
// A secret that is missing, of a type the kubelet ignores, or without data
// under its type's key is skipped, as the kubelet skips it, and named in
// Skipped with why ("secret team-a/regcred (not found)"), so a 401 message
// says what was looked at. A secret of a pull type whose docker config the
// kubelet cannot decode is not skipped: the kubelet then fails every image
// pull of the pod, so Candidates fails for every repository. With
// CacheOptions, secrets of the usual non-pull types (Opaque, TLS, ...) are
// never cached and show as "(not found)". Only a failure of the reader
// itself (not NotFound) is an error. A nil pod is a pod that names nothing.
func (v *View) Credentials(ctx context.Context, namespace string, pod *workload.PodContext) (resolve.Credentials, error) {
	creds := &credentials{}
	refs, err := v.pullSecretRefs(ctx, namespace, pod, creds)
	if err != nil {
		return nil, err
	}
	var configs []*keychain.Config
	for _, ref := range refs {
		p, err := v.pullSecret(ctx, namespace, ref)
		if err != nil {
			return nil, err
		}
		switch {
		case p.malformed != nil && creds.unreadable == nil:
			creds.unreadable = fmt.Errorf("%w: %w", image.ErrUnreadablePullSecret, p.malformed)
			creds.skipped = append(creds.skipped, ref.source+" ("+p.reason+")")
		case p.reason != "":
			creds.skipped = append(creds.skipped, ref.source+" ("+p.reason+")")
		default:
			configs = append(configs, p.config)
		}
	}
	chains := []*keychain.Keychain{keychain.New(configs...)}
	if v.node != nil {
		cfg, err := v.node.load()
		if err != nil {
			log.FromContext(ctx).V(1).Info("node docker config skipped", "path", v.node.path, "reason", err.Error())
			creds.skipped = append(creds.skipped, v.node.source()+" (unreadable)")
		} else {
			chains = append(chains, keychain.New(cfg))
		}
	}
	if v.providers != nil {
		chains = append(chains, keychain.FromProvider(v.providers))
	}
	creds.Keychain = keychain.Union(chains...)
	return creds, nil
}

// secretRef is one pull secret to read, with the source name messages use.
type secretRef struct {
	name   string
	source string
}

// pullSecretRefs lists the secrets the kubelet would read for pod, in order.
// A missing service account is recorded in creds as skipped.
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
		creds.skipped = append(creds.skipped, saSource+" (not found)")
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

// Why a secret is skipped, as shown in Skipped.
const (
	reasonNotFound  = "not found"
	reasonMalformed = "malformed"
	// reasonNotPull names the type: a secret made with `kubectl create
	// secret generic` holds a docker config the kubelet never reads.
	reasonNotPull        = "type %s, not a pull secret: the kubelet reads only %s (kubectl create secret docker-registry) and kubernetes.io/dockercfg"
	reasonNoDockerConfig = "no docker config key"
)

// pullSecret returns the secret's docker config, or why there is none.
// Only a failure of the reader is an error.
// Parsed configs (and parse failures) are memoised by UID and
// resourceVersion, so the hot path does not re-parse JSON for every
// admission.
func (v *View) pullSecret(ctx context.Context, namespace string, ref secretRef) (parsedSecret, error) {
	var s corev1.Secret
	err := v.reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return parsedSecret{reason: reasonNotFound}, nil
	case err != nil:
		return parsedSecret{}, fmt.Errorf("get secret %q: %w", namespace+"/"+ref.name, err)
	}
	logger := log.FromContext(ctx).V(1).WithValues("secret", namespace+"/"+ref.name)
	key, format := pullSecretKey(s.Type)
	if key == "" {
		logger.Info("secret skipped: the kubelet reads only docker config secrets", "type", string(s.Type))
		return parsedSecret{reason: fmt.Sprintf(reasonNotPull, s.Type, corev1.SecretTypeDockerConfigJson)}, nil
	}
	data, ok := s.Data[key]
	if !ok || len(data) == 0 {
		logger.Info("secret skipped: no docker config", "key", key)
		return parsedSecret{reason: reasonNoDockerConfig}, nil
	}
	memoKey := secretKey{uid: s.UID, resourceVersion: s.ResourceVersion, source: ref.source}
	memoable := s.UID != "" && s.ResourceVersion != ""
	if memoable {
		if p, ok := v.secrets.Get(memoKey); ok {
			return p, nil
		}
	}
	p := parsedSecret{}
	cfg, err := keychain.Parse(data, ref.source, format)
	if err != nil {
		// A *keychain.ParseError names fields and offsets, never values.
		var pe *keychain.ParseError
		if !errors.As(err, &pe) {
			return parsedSecret{}, fmt.Errorf("parse secret %q: %w", namespace+"/"+ref.name, err)
		}
		logger.Info("the kubelet cannot read this pull secret and fails every pull of the pod", "reason", pe.Reason, "entry", pe.Key)
		p.reason, p.malformed = reasonMalformed, pe
	} else {
		p.config = cfg
	}
	if memoable {
		v.secrets.Add(memoKey, p)
	}
	return p, nil
}

// secretKey identifies one version of a secret read as one source: the
// source name is part of the parsed config.
type secretKey struct {
	uid             types.UID
	resourceVersion string
	source          string
}

// parsedSecret is a docker config, or why there is none; malformed is set
// when the kubelet cannot decode it (its message names no secret content).
type parsedSecret struct {
	config    *keychain.Config
	reason    string
	malformed *keychain.ParseError
}

// pullSecretKey is the data key, and the layout, the kubelet reads for a
// secret type; "" for types it ignores.
func pullSecretKey(t corev1.SecretType) (string, keychain.Format) {
	switch t {
	case corev1.SecretTypeDockerConfigJson:
		return corev1.DockerConfigJsonKey, keychain.ConfigJSON
	case corev1.SecretTypeDockercfg:
		return corev1.DockerConfigKey, keychain.Dockercfg
	}
	return "", 0
}

// credentials are a pod's keychain plus what the kubelet read for the pod
// and got nothing from. Embedding the keychain keeps its redacting String
// and Format.
type credentials struct {
	*keychain.Keychain
	skipped []string
	// unreadable is set when a pull secret cannot be decoded: the kubelet
	// then fails every pull.
	unreadable error
}

// Candidates fails for every repository when a pull secret is unreadable,
// as the kubelet's keyring does, before any registry is asked.
func (c *credentials) Candidates(ctx context.Context, repository string) ([]keychain.Credential, error) {
	if c.unreadable != nil {
		return nil, c.unreadable
	}
	return c.Keychain.Candidates(ctx, repository)
}

// Skipped lists the pull secrets (and node config) skipped, with why.
func (c *credentials) Skipped() []string { return c.skipped }
