package resolve

import (
	"context"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/keychain"
)

// NodeHosts says where the nodes' containerd pulls a registry's images
// from: its hosts.toml mirrors in order, then the upstream
// (internal/nodehosts adapts its Config to it). The hosts' TLS, paths and
// headers are the transport's business (WithTransport).
type NodeHosts interface {
	// Hosts are host[:port] names in the order containerd tries them for
	// registry, the upstream last; upstreamIsRegistry says the upstream
	// is registry itself. byDigest: the image is pulled by digest.
	Hosts(registry string, byDigest bool) (hosts []string, upstreamIsRegistry bool)
}

// WithNodeHosts makes every lookup go where the nodes pull from.
func WithNodeHosts(h NodeHosts) Option {
	return func(r *Resolver) { r.nodeHosts = h }
}

// resolveOnNodes resolves ref as containerd pulls it: from each host in
// turn, moving on after any failure, as its resolver does; the upstream's
// failure is the answer when every host fails. A mirror is asked with the
// credentials the kubelet matched for ref (the CRI sends them to every
// host of the pull), and what it answers is ref's: the pod is not
// rewritten, so Facts name ref's repository.
func (r *Resolver) resolveOnNodes(ctx context.Context, ref image.Reference, original string, creds Credentials, w verification) (image.Facts, error) {
	if r.nodeHosts == nil {
		return r.resolveAt(ctx, ref, original, creds, w)
	}
	hosts, upstreamIsRegistry := r.nodeHosts.Hosts(ref.Registry, ref.Digest != "")
	if len(hosts) == 0 {
		return image.Facts{}, &image.Error{Class: image.Unreachable, Image: original, Registry: ref.Registry,
			Reason: "the nodes' hosts.toml gives no host that may pull it (capabilities)"}
	}
	var err error
	for i, h := range hosts {
		if i == len(hosts)-1 && upstreamIsRegistry {
			return r.resolveAt(ctx, ref, original, creds, w)
		}
		at, werr := ref.WithRepository(h + "/" + ref.Path)
		if werr != nil {
			err = werr
			continue
		}
		var facts image.Facts
		facts, err = r.resolveAt(ctx, at, original, sameCredentials{creds, ref.Repository}, w)
		if err == nil {
			facts.ResolvedRepository = ref.Repository
			return facts, nil
		}
		if ctx.Err() != nil {
			return image.Facts{}, err
		}
		r.log.V(1).Info("node mirror failed, trying the next host", "host", h, "registry", ref.Registry, "class", classOf(err))
	}
	return image.Facts{}, err
}

// sameCredentials are the credentials of repository, whatever host they are
// asked for.
type sameCredentials struct {
	Credentials
	repository string
}

func (s sameCredentials) Candidates(ctx context.Context, _ string) ([]keychain.Credential, error) {
	if s.Credentials == nil {
		return nil, nil
	}
	return s.Credentials.Candidates(ctx, s.repository)
}
