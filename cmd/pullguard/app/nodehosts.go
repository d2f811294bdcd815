package app

import (
	"net/http"
	"slices"

	"github.com/spf13/pflag"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/nodehosts"
	"github.com/pullguard/pullguard/internal/resolve"
)

const nodeRegistryConfigHelp = "directory in containerd's certs.d layout (a hosts.toml per registry host, _default): registries are resolved through the nodes' mirrors, with their CAs, before the upstream"

func addNodeRegistryConfigFlag(f *pflag.FlagSet, dir *string) {
	f.StringVar(dir, "node-registry-config", "", nodeRegistryConfigHelp)
}

// loadNodeHosts reads --node-registry-config; nil without it.
func loadNodeHosts(dir string) (*nodehosts.Config, error) {
	if dir == "" {
		return nil, nil
	}
	c, err := nodehosts.Load(dir)
	if err != nil {
		return nil, usageError("--node-registry-config: %w", err)
	}
	return c, nil
}

// registryOptions are a resolver's transport and insecure hosts for
// guard, going where the nodes pull from when hosts is given; wrap (the
// metrics' transport) goes around it.
func registryOptions(hosts *nodehosts.Config, guard addressguard.Config, wrap func(http.RoundTripper) http.RoundTripper) []resolve.Option {
	if hosts == nil {
		return []resolve.Option{
			resolve.WithTransport(wrap(guard.Transport())),
			resolve.WithInsecureRegistries(guard.InsecureRegistries...),
		}
	}
	// A mirror the nodes reach over plain HTTP or without verification is
	// allowed as such because the nodes' configuration says so.
	guard.InsecureRegistries = append(slices.Clip(guard.InsecureRegistries), hosts.Insecure()...)
	return []resolve.Option{
		resolve.WithTransport(wrap(hosts.Transport(guard))),
		resolve.WithInsecureRegistries(guard.InsecureRegistries...),
		resolve.WithNodeHosts(hosts),
	}
}
