package diagnose

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		source, message string
		want            Cause
		network         bool
		expired         bool
	}{
		// containerd 2.4 through kubelet 1.37, verbatim from a real node (REALNODE.md).
		{"containerd: missing tag", `Failed to pull image "127.0.0.1:5100/app:does-not-exist": rpc error: code = NotFound desc = failed to pull and unpack image "127.0.0.1:5100/app:does-not-exist": failed to resolve image: 127.0.0.1:5100/app:does-not-exist: not found`, NotFound, false, false},
		{"containerd: missing digest", `rpc error: code = NotFound desc = failed to pull and unpack image "127.0.0.1:5100/app@sha256:0000000000000000000000000000000000000000000000000000000000000000": failed to resolve image: 127.0.0.1:5100/app@sha256:0000000000000000000000000000000000000000000000000000000000000000: not found`, NotFound, false, false},
		{"containerd: 401 without credentials", `Failed to pull image "127.0.0.1:5101/private/app:v1": failed to pull and unpack image "127.0.0.1:5101/private/app:v1": failed to resolve image: pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials`, Unauthorized, false, false},
		{"containerd: 401 wrong password", `failed to pull and unpack image "127.0.0.1:5101/private/app:v1": failed to resolve image: unexpected status from HEAD request to https://127.0.0.1:5101/v2/private/app/manifests/v1: 401 Unauthorized`, Unauthorized, false, false},
		{"containerd: 403", `failed to pull and unpack image "ghcr.io/acme/api:v1": failed to resolve image: unexpected status from HEAD request to https://ghcr.io/v2/acme/api/manifests/v1: 403 Forbidden`, Forbidden, false, false},
		{"containerd: index without the platform", `Failed to pull image "127.0.0.1:5100/app:arm64-index": rpc error: code = NotFound desc = get image config descriptor: no match for platform in manifest sha256:dc599ca53181d6892b66c7eac78843d7f352d956dd2d3a149da694abdc24d5d3: not found`, PlatformMismatch, false, false},
		{"containerd: connection refused", `failed to pull and unpack image "127.0.0.1:5999/app:v1": failed to resolve image: failed to do request: Head "https://127.0.0.1:5999/v2/app/manifests/v1": dial tcp 127.0.0.1:5999: connect: connection refused`, Unreachable, true, false},
		{"containerd: DNS", `failed to resolve image: failed to do request: Head "https://reg.example.com/v2/a/manifests/v1": dial tcp: lookup reg.example.com on 10.96.0.10:53: no such host`, Unreachable, true, false},
		{"containerd: timeout", `failed to resolve image: failed to do request: Head "https://reg.example.com/v2/a/manifests/v1": dial tcp 203.0.113.7:443: i/o timeout`, Unreachable, true, false},
		{"containerd: unknown CA", `failed to resolve image: failed to do request: Head "https://reg.example.com/v2/a/manifests/v1": tls: failed to verify certificate: x509: certificate signed by unknown authority`, Unreachable, true, false},
		{"containerd: proxy", `failed to do request: Head "https://reg.example.com/v2/a/manifests/v1": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: connection refused`, Unreachable, true, false},
		{"containerd: deadline", `rpc error: code = DeadlineExceeded desc = failed to pull and unpack image "x:1": failed to copy: httpReadSeeker: failed open: failed to do request: Get "https://r/v2/x/blobs/sha256:ab": context deadline exceeded`, Unreachable, true, false},
		{"containerd: rate limit", `failed to pull and unpack image "docker.io/library/nginx:1.27": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:ab: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`, RateLimited, false, false},
		// From TestRealNode's lost-* scenarios (containerd 2.4.2): the
		// registry lacks what the image names.
		{"containerd: lost index entry", `rpc error: code = NotFound desc = failed to pull and unpack image "127.0.0.1:45529/rn/lost-entry:v1": failed to copy: httpReadSeeker: failed open: content at https://127.0.0.1:45529/v2/rn/lost-entry/manifests/sha256:56daa070303ba5ff510cadbd92ef2e1abfc9e15e156f8aed1331bcd69a59004b not found: not found`, CorruptedContent, false, false},
		{"containerd: lost config", `rpc error: code = NotFound desc = failed to pull and unpack image "127.0.0.1:45529/rn/lost-config:v1": failed to copy: httpReadSeeker: failed open: could not fetch content descriptor sha256:f4cc2bd7c8b95ce996270ed9c16e521429c5cd65b69705b5953632c91d8b7127 (application/vnd.oci.image.config.v1+json) from remote: not found`, CorruptedContent, false, false},
		// An index of only 386 builds on amd64: the transfer service fetched
		// none, then the config lookup fails in the local store.
		{"containerd: compatible-only index", `rpc error: code = NotFound desc = get image config descriptor: content digest sha256:e5e9006cbbf4385afd6b9e92e49b447e36d90a89239bc243b2a5e98694413c0b: not found`, CorruptedContent, false, false},
		{"containerd: disk full", `failed to pull and unpack image "x:1": failed to extract layer sha256:ab: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/12/fs/usr/lib/x: no space left on device: unknown`, DiskPressure, false, false},
		{"containerd: bad layer", `failed to pull and unpack image "x:1": failed to extract layer sha256:ab: failed to get reader from content store: content digest sha256:ab: not found`, CorruptedContent, false, false},
		{"containerd: digest mismatch", `failed to pull and unpack image "x:1": failed to copy: failed commit on ref "layer-sha256:ab": unexpected commit digest sha256:cd, expected sha256:ab: failed precondition`, CorruptedContent, false, false},
		{"containerd: truncated blob", `failed to pull and unpack image "x:1": failed to copy: read tcp 10.0.0.5:52344->203.0.113.7:443: read: connection reset by peer`, Unreachable, true, false},
		{"containerd: missing blob", `failed to pull and unpack image "x:1": failed to resolve image: could not fetch content descriptor sha256:ab (application/vnd.oci.image.layer.v1.tar+gzip) from remote: not found`, CorruptedContent, false, false},
		{"containerd: 5xx", `failed to resolve image: unexpected status from HEAD request to https://r/v2/a/manifests/v1: 503 Service Unavailable`, Unreachable, false, false},
		{"containerd: plain HTTP registry", `failed to do request: Head "https://r:5000/v2/a/manifests/v1": http: server gave HTTP response to HTTPS client`, Unreachable, true, false},
		// ECR's expired token, as containerd reports ECR's 403 body.
		{"ECR: expired token", `failed to resolve image: pull access denied, repository does not exist or may require authorization: server message: denied: Your authorization token has expired. Reauthenticate and try again.`, Unauthorized, false, true},
		// CRI-O through containers/image.
		{"CRI-O: manifest unknown", `initializing source docker://quay.io/acme/api:v9: reading manifest v9 in quay.io/acme/api: manifest unknown`, NotFound, false, false},
		{"CRI-O: unauthorized", `initializing source docker://quay.io/acme/private:v1: reading manifest v1 in quay.io/acme/private: unauthorized: access to the requested resource is not authorized`, Unauthorized, false, false},
		{"CRI-O: denied", `initializing source docker://registry.example.com/a:v1: reading manifest v1 in registry.example.com/a: denied: requested access to the resource is denied`, Forbidden, false, false},
		{"CRI-O: platform", `choosing image instance: no image found in image index for architecture "arm64", variant "v8", OS "linux"`, PlatformMismatch, false, false},
		{"CRI-O: platform (older)", `choosing an image from manifest list docker://x:1: no image found in manifest list for architecture arm64, variant "v8", OS linux`, PlatformMismatch, false, false},
		{"CRI-O: DNS", `pinging container registry reg.example.com: Get "https://reg.example.com/v2/": dial tcp: lookup reg.example.com: no such host`, Unreachable, true, false},
		{"CRI-O: rate limit", `reading manifest 1.27 in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit.`, RateLimited, false, false},
		{"CRI-O: disk", `writing blob: storing blob to file "/var/tmp/storage123/1": write /var/tmp/storage123/1: no space left on device`, DiskPressure, false, false},
		{"CRI-O: digest", `writing blob: happened during read: Digest did not match, expected sha256:ab, got sha256:cd`, CorruptedContent, false, false},
		// cri-dockerd through the Docker daemon.
		{"Docker: manifest unknown", `Error response from daemon: manifest for acme/api:v9 not found: manifest unknown: manifest unknown`, NotFound, false, false},
		{"Docker: pull access denied", `Error response from daemon: pull access denied for acme/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`, Unauthorized, false, false},
		{"Docker: platform", `no matching manifest for linux/arm64/v8 in the manifest list entries`, PlatformMismatch, false, false},
		{"Docker: timeout", `Error response from daemon: Get "https://reg.example.com/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`, Unreachable, true, false},
		{"Docker: rate limit", `Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`, RateLimited, false, false},
		{"Docker: extract", `failed to register layer: Error processing tar file(exit status 1): unexpected EOF`, CorruptedContent, false, false},
		// The kubelet itself.
		{"kubelet: invalid name", `Failed to apply default image tag "127.0.0.1:5000/App:v1": couldn't parse image name "127.0.0.1:5000/App:v1": invalid reference format: repository name (App) must be lowercase`, InvalidReference, false, false},
		{"kubelet: never pull", `Container image "acme/api:v1" is not present with pull policy of Never`, NotPresent, false, false},
		{"kubelet: exec format", `exec /pause: exec format error`, ExecFormat, false, false},
		{"kubelet: eviction", `The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 200Mi.`, DiskPressure, false, false},
		{"nothing known", `Back-off pulling image "x:1"`, Unknown, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			t.Parallel()
			got := Classify(tt.message)
			if remote := strings.Contains(tt.message, "from remote: not found") || strings.Contains(tt.message, "content at https://"); got.Remote != remote {
				t.Errorf("Classify = %+v, want Remote %v (the registry lacks it)", got, remote)
			}
			if got.Cause != tt.want || got.Network != tt.network || got.Expired != tt.expired {
				t.Errorf("Classify = %+v, want %s (network %v, expired %v)", got, tt.want, tt.network, tt.expired)
			}
			if tt.want != Unknown && got.Detail == "" {
				t.Errorf("Classify = %+v: no detail", got)
			}
		})
	}
}
