package app

import (
	"github.com/spf13/pflag"

	"github.com/pullguard/pullguard/internal/credentialprovider"
)

// providerFlags are the kubelet's own flags for credential provider
// plugins, shared by serve and check.
type providerFlags struct {
	config string
	binDir string
}

func (p *providerFlags) add(f *pflag.FlagSet) {
	f.StringVar(&p.config, "image-credential-provider-config", "", "the kubelet's CredentialProviderConfig (kubelet.config.k8s.io/v1) file or directory; its plugins' credentials are tried after the pod's and the node config's")
	f.StringVar(&p.binDir, "image-credential-provider-bin-dir", "", "directory of the credential provider plugins' executables, as the kubelet's flag of that name")
}

// validate needs both flags or neither, as the kubelet does.
func (p *providerFlags) validate() error {
	if (p.config == "") != (p.binDir == "") {
		return usageError("--image-credential-provider-config and --image-credential-provider-bin-dir go together")
	}
	return nil
}

// load reads the plugins; nil without the flags.
func (p *providerFlags) load() (*credentialprovider.Plugins, error) {
	if p.config == "" {
		return nil, nil
	}
	ps, err := credentialprovider.Load(p.config, p.binDir)
	if err != nil {
		return nil, usageError("%w", err)
	}
	return ps, nil
}
