// Package nodehosts reads the nodes' containerd registry configuration, the
// certs.d layout of config_path (containerd v2.4 core/remotes/docker/config,
// hosts.go): a directory per registry host, named as the image names it
// ("docker.io", "registry.local:5000", or "registry.local_5000_"), and
// "_default" for every host without one. Each holds a hosts.toml:
//
//	server = "https://registry-1.docker.io"   # the upstream; default: the host itself
//	ca = "upstream-ca.crt"
//	[host."https://mirror.internal"]          # mirrors, tried in file order
//	  capabilities = ["pull", "resolve"]
//	  ca = ["mirror-ca.pem"]
//	  skip_verify = false
//	  override_path = false
//	  [host."https://mirror.internal".header]
//	    x-team = "a"
//
// or, without hosts.toml, *.crt CA files (and *.cert/*.key client pairs) for
// the upstream. containerd tries the hosts in order, the upstream last, and
// moves to the next on any failure; a tag is resolved only on hosts with the
// pull and resolve capabilities, a digest on hosts with pull.
//
// Unlike containerd, which logs a hosts.toml it cannot decode and then uses
// the directory's certificate files alone, Load refuses it, with the file
// and the field: an operator who gives pullguard the nodes' configuration
// wants to know that the nodes ignore part of it. Unknown fields are
// refused for the same reason. dial_timeout is read and not used: pullguard
// has its own deadline.
package nodehosts

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
	tomlu "github.com/pelletier/go-toml/v2/unstable"

	"github.com/pullguard/pullguard/internal/image"
)

// Host is one place containerd pulls a registry's images from.
type Host struct {
	// Scheme is "https" or "http".
	Scheme string
	// Host is host[:port].
	Host string
	// Path is the API root, "/v2" unless override_path said otherwise.
	Path string
	// Pull and Resolve are its capabilities (push and referrers do not
	// matter for pulls).
	Pull, Resolve bool
	// CAs are PEM CA certificates trusted for it on top of the system's.
	CAs [][]byte
	// SkipVerify turns certificate verification off for it.
	SkipVerify bool
	// ClientCerts are its client certificate pairs (mutual TLS).
	ClientCerts []tls.Certificate
	// Header is sent with every request to it.
	Header map[string][]string
	// Upstream marks the last host: the server, or the registry itself.
	Upstream bool
}

// Config is a loaded certs.d directory. The zero value and nil hold
// nothing: every registry pulls from itself.
type Config struct {
	// dirs maps a directory name to its hosts, the upstream last with Host
	// "" when the file names no server.
	dirs map[string][]Host
}

// defaultDir configures every host without a directory of its own.
const defaultDir = "_default"

// Load reads every registry directory under root.
func Load(root string) (*Config, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("node registry config: %w", err)
	}
	c := &Config{dirs: map[string][]Host{}}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		hosts, err := loadDir(filepath.Join(root, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("node registry config: %w", err)
		}
		c.dirs[e.Name()] = hosts
	}
	return c, nil
}

// hostFile is the part of hosts.toml that applies to one host.
type hostFile struct {
	Capabilities []string       `toml:"capabilities"`
	CA           any            `toml:"ca"`
	Client       any            `toml:"client"`
	SkipVerify   *bool          `toml:"skip_verify"`
	Header       map[string]any `toml:"header"`
	OverridePath bool           `toml:"override_path"`
	DialTimeout  string         `toml:"dial_timeout"`
}

func loadDir(dir string) ([]Host, error) {
	file := filepath.Join(dir, "hosts.toml")
	data, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(data) == 0 {
		return certFiles(dir)
	}
	order, err := hostOrder(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var f struct {
		hostFile
		Server string              `toml:"server"`
		Hosts  map[string]hostFile `toml:"host"`
	}
	dec := toml.NewDecoder(strings.NewReader(string(data))).DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return nil, fmt.Errorf("%s: %s", file, strict.String())
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var hosts []Host
	for _, name := range order {
		h, err := parseHost(name, dir, f.Hosts[name])
		if err != nil {
			return nil, fmt.Errorf("%s: host %q: %w", file, name, err)
		}
		hosts = append(hosts, h)
	}
	up, err := parseHost(f.Server, dir, f.hostFile)
	if err != nil {
		return nil, fmt.Errorf("%s: server: %w", file, err)
	}
	up.Upstream = true
	return append(hosts, up), nil
}

// hostOrder lists the [host."..."] tables in file order, as containerd's
// getSortedHosts does (a TOML map has none).
func hostOrder(data []byte) ([]string, error) {
	var p tomlu.Parser
	p.Reset(data)
	var order []string
	for p.NextExpression() {
		e := p.Expression()
		if e.Kind != tomlu.Table {
			continue
		}
		var parts []string
		for it := e.Key(); it.Next(); {
			parts = append(parts, string(it.Node().Data))
		}
		if len(parts) >= 2 && parts[0] == "host" && !slices.Contains(order, parts[1]) {
			order = append(order, parts[1])
		}
	}
	if err := p.Error(); err != nil {
		return nil, err
	}
	return order, nil
}

// parseHost is containerd's parseHostConfig; server "" is the registry
// itself (filled in by Hosts).
func parseHost(server, dir string, f hostFile) (Host, error) {
	h := Host{Scheme: "https", Path: "/v2"}
	if server != "" {
		if !strings.HasPrefix(server, "http") {
			server = "https://" + server
		}
		u, err := url.Parse(server)
		if err != nil {
			return Host{}, fmt.Errorf("unable to parse %q: %w", server, err)
		}
		if u.Host == "" {
			return Host{}, fmt.Errorf("%q names no host", server)
		}
		h.Scheme, h.Host = u.Scheme, u.Host
		switch p := u.Path; {
		case p != "":
			p = path.Clean(p)
			if !strings.HasSuffix(p, "/v2") && !f.OverridePath {
				p += "/v2"
			}
			h.Path = p
		case f.OverridePath:
			h.Path = ""
		}
	}
	if len(f.Capabilities) == 0 {
		h.Pull, h.Resolve = true, true
	}
	for _, c := range f.Capabilities {
		switch strings.ToLower(c) {
		case "pull":
			h.Pull = true
		case "resolve":
			h.Resolve = true
		case "push", "referrers":
		default:
			return Host{}, fmt.Errorf("unknown capability %q", c)
		}
	}
	if f.SkipVerify != nil {
		h.SkipVerify = *f.SkipVerify
	}
	cas, err := paths(f.CA, dir, "ca")
	if err != nil {
		return Host{}, err
	}
	for _, p := range cas {
		data, err := os.ReadFile(p)
		if err != nil {
			return Host{}, fmt.Errorf("ca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return Host{}, fmt.Errorf("ca %s: no PEM certificate in it", p)
		}
		h.CAs = append(h.CAs, data)
	}
	if h.ClientCerts, err = clientCerts(f.Client, dir); err != nil {
		return Host{}, err
	}
	if len(f.Header) > 0 {
		h.Header = map[string][]string{}
		for k, v := range f.Header {
			vals, err := strings1(v, "header "+k)
			if err != nil {
				return Host{}, err
			}
			h.Header[k] = vals
		}
	}
	return h, nil
}

// paths reads a string or an array of strings, relative to dir.
func paths(v any, dir, field string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	vals, err := strings1(v, field)
	if err != nil {
		return nil, err
	}
	for i, p := range vals {
		if !filepath.IsAbs(p) {
			vals[i] = filepath.Join(dir, p)
		}
	}
	return vals, nil
}

// strings1 reads a TOML string or array of strings.
func strings1(v any, field string) ([]string, error) {
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case []any:
		out := make([]string, len(t))
		for i, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s: want strings, got %T", field, e)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: want a string or an array of strings, got %T", field, v)
}

// clientCerts reads "client": a certificate file (with its key inside), or
// an array of those and of [cert, key] pairs.
func clientCerts(v any, dir string) ([]tls.Certificate, error) {
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []tls.Certificate
	for _, it := range items {
		pair, err := paths(it, dir, "client")
		if err != nil {
			return nil, err
		}
		if len(pair) == 1 {
			pair = append(pair, pair[0])
		}
		if len(pair) != 2 {
			return nil, fmt.Errorf("client: want a file or a [cert, key] pair, got %d files", len(pair))
		}
		cert, err := tls.LoadX509KeyPair(pair[0], pair[1])
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// certFiles is a directory without hosts.toml: its *.crt files are CAs and
// its *.cert files (with *.key beside them) client pairs of the upstream.
func certFiles(dir string) ([]Host, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	up := Host{Scheme: "https", Path: "/v2", Pull: true, Resolve: true, Upstream: true}
	for _, e := range entries {
		name := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
		case strings.HasSuffix(e.Name(), ".crt"):
			data, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			if !x509.NewCertPool().AppendCertsFromPEM(data) {
				return nil, fmt.Errorf("%s: no PEM certificate in it", name)
			}
			up.CAs = append(up.CAs, data)
		case strings.HasSuffix(e.Name(), ".cert"):
			key := strings.TrimSuffix(name, ".cert") + ".key"
			if _, err := os.Stat(key); err != nil {
				key = name
			}
			cert, err := tls.LoadX509KeyPair(name, key)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			up.ClientCerts = append(up.ClientCerts, cert)
		}
	}
	return []Host{up}, nil
}

// For are where containerd pulls registry's images from (registry as
// the image names it, "docker.io" for Docker Hub), in the order it tries
// them, the upstream last; byDigest keeps the hosts that may pull, else
// those that may pull and resolve. Empty means no host may: containerd
// fails the pull.
func (c *Config) For(registry string, byDigest bool) []Host {
	var hosts []Host
	if c != nil {
		for _, d := range dirNames(registry) {
			if hs, ok := c.dirs[d]; ok {
				hosts = slices.Clone(hs)
				break
			}
		}
	}
	if hosts == nil {
		hosts = []Host{{Scheme: "https", Path: "/v2", Pull: true, Resolve: true, Upstream: true}}
	}
	if up := &hosts[len(hosts)-1]; up.Host == "" {
		up.Host = registry
		// containerd speaks to localhost over HTTP on any port but 443.
		if host, port, _ := net.SplitHostPort(registry); isLocalhost(host) && port != "" && port != "443" {
			up.Scheme = "http"
		}
	}
	return slices.DeleteFunc(hosts, func(h Host) bool { return !h.Pull || (!byDigest && !h.Resolve) })
}

// Hosts are the names of For's hosts, and whether the last is registry
// itself (resolve.NodeHosts).
func (c *Config) Hosts(registry string, byDigest bool) ([]string, bool) {
	hosts := c.For(registry, byDigest)
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Host
	}
	upstream := len(hosts) > 0 && hosts[len(hosts)-1].Upstream && IsRegistry(hosts[len(hosts)-1], registry)
	return names, upstream
}

// IsRegistry reports whether h is registry itself, as go-containerregistry
// reaches it: Docker Hub's API host is the registry "docker.io".
func IsRegistry(h Host, registry string) bool {
	if h.Path != "/v2" {
		return false
	}
	if image.IsDockerHub(registry) && (h.Host == "registry-1.docker.io" || image.IsDockerHub(h.Host)) {
		return true
	}
	return image.CanonicalHost(h.Host) == image.CanonicalHost(registry)
}

// dirNames are the directories containerd looks for, in order
// (hostPaths in config_unix.go).
func dirNames(registry string) []string {
	var out []string
	if i := strings.LastIndex(registry, ":"); i > 0 {
		out = append(out, registry[:i]+"_"+registry[i+1:]+"_")
	}
	return append(out, registry, defaultDir)
}

// isLocalhost is containerd's docker.IsLocalhost for a host without port.
func isLocalhost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Insecure lists the hosts pullguard must be allowed to reach over plain
// HTTP or without verifying certificates, as the address guard and the
// resolver take them: those with scheme http or skip_verify.
func (c *Config) Insecure() []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, hs := range c.dirs {
		for _, h := range hs {
			if h.Host != "" && (h.Scheme == "http" || h.SkipVerify) && !slices.Contains(out, h.Host) {
				out = append(out, h.Host)
			}
		}
	}
	slices.Sort(out)
	return out
}
