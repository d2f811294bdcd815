package app

import (
	"net/url"

	"github.com/spf13/pflag"
	"golang.org/x/net/http/httpproxy"

	"github.com/pullguard/pullguard/internal/addressguard"
)

func addRegistryProxyFlag(f *pflag.FlagSet, proxy *string) {
	f.StringVar(proxy, "registry-proxy", "", "HTTP proxy URL registries are reached through (http:// or https://), instead of HTTPS_PROXY/HTTP_PROXY; NO_PROXY still applies")
}

// registryProxy is how registries are reached: through flag, a proxy URL,
// for both schemes (NO_PROXY from the environment still applies); else
// through HTTPS_PROXY, HTTP_PROXY and NO_PROXY as net/http reads them;
// else directly (nil).
func registryProxy(flag string) (*httpproxy.Config, error) {
	if flag == "" {
		return addressguard.ProxyFromEnvironment(), nil
	}
	u, err := url.Parse(flag)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError("--registry-proxy %q: want http://HOST[:PORT] or https://HOST[:PORT]", flag)
	}
	env := httpproxy.FromEnvironment()
	return &httpproxy.Config{HTTPProxy: flag, HTTPSProxy: flag, NoProxy: env.NoProxy}, nil
}
