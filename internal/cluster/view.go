// Package cluster is pullguard's view of the cluster, served from the
// manager's informer caches: the credentials the kubelet would use for a pod,
// the platforms of the nodes a pod may land on, and the ImagePolicy that
// applies to a namespace. It satisfies webhook.ClusterView structurally, so
// that the core never imports the webhook.
package cluster

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/keychain"
)

// Defaults of Options.
const (
	// DefaultSecretMemoSize bounds the parsed pull secrets kept: a few per
	// namespace in a large cluster, each a few hundred bytes.
	DefaultSecretMemoSize = 4096
	// DefaultPolicyMemoSize bounds the compiled ImagePolicies kept; clusters
	// have a handful.
	DefaultPolicyMemoSize = 256
)

// Options configure a View. The zero value is valid.
type Options struct {
	// NodeDockerConfig is the path of a mounted docker config JSON holding
	// what the nodes themselves can pull with (the kubelet's
	// /var/lib/kubelet/config.json), or "" for none. It is re-read when
	// its modification time or size changes, so a remounted secret applies
	// without a restart.
	NodeDockerConfig string
	// CredentialProviders are the kubelet's credential provider plugins
	// (internal/credentialprovider), asked after the node docker config;
	// nil for none.
	CredentialProviders keychain.Provider
	// SecretMemoSize bounds the memo of parsed pull secrets; 0 means
	// DefaultSecretMemoSize.
	SecretMemoSize int
	// PolicyMemoSize bounds the memo of compiled policies; 0 means
	// DefaultPolicyMemoSize.
	PolicyMemoSize int
}

// View answers from a cache-backed client.Reader. It is safe for concurrent
// use.
type View struct {
	reader client.Reader
	node   *fileKeychain // nil without Options.NodeDockerConfig
	// providers are Options.CredentialProviders.
	providers keychain.Provider
	secrets   *lru.Cache[secretKey, parsedSecret]
	compiled  *lru.Cache[policyKey, compiledPolicy]
}

// New returns a View reading from reader, normally the manager's
// cache-backed client configured with CacheOptions. It fails when
// Options.NodeDockerConfig is set but cannot be read or parsed, so a broken
// mount shows at start-up rather than as 401s later.
func New(reader client.Reader, opts Options) (*View, error) {
	if reader == nil {
		return nil, fmt.Errorf("cluster view: no reader given")
	}
	secretSize, policySize := opts.SecretMemoSize, opts.PolicyMemoSize
	if secretSize <= 0 {
		secretSize = DefaultSecretMemoSize
	}
	if policySize <= 0 {
		policySize = DefaultPolicyMemoSize
	}
	secrets, err := lru.New[secretKey, parsedSecret](secretSize)
	if err != nil {
		return nil, fmt.Errorf("cluster view: secret memo: %w", err)
	}
	compiled, err := lru.New[policyKey, compiledPolicy](policySize)
	if err != nil {
		return nil, fmt.Errorf("cluster view: policy memo: %w", err)
	}
	v := &View{reader: reader, secrets: secrets, compiled: compiled, providers: opts.CredentialProviders}
	if opts.NodeDockerConfig != "" {
		v.node = &fileKeychain{path: opts.NodeDockerConfig}
		if _, err := v.node.load(); err != nil {
			return nil, fmt.Errorf("cluster view: node docker config: %w", err)
		}
	}
	return v, nil
}
