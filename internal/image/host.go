package image

import "strings"

// DockerHub is Docker Hub's registry domain as the kubelet and containerd
// name it.
const DockerHub = "docker.io"

// dockerHubAliases are the other names operators write for Docker Hub:
// distribution's legacy default domain and the host Docker Hub really
// serves from.
var dockerHubAliases = []string{"index.docker.io", "registry-1.docker.io"}

// CanonicalHost is the one spelling of a registry host that an operator
// configures (insecure registries, mirror rules, allowed-registry patterns,
// address-guard exceptions, metrics): lower case (DNS names are), without
// surrounding space, Docker Hub's aliases as "docker.io", the port kept.
// Image references are not passed through it: their domain is what
// Reference.Registry says, as the kubelet's credential matching sees it.
func CanonicalHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	for _, alias := range dockerHubAliases {
		if h == alias {
			return DockerHub
		}
	}
	return h
}

// IsDockerHub reports whether host names Docker Hub.
func IsDockerHub(host string) bool {
	return CanonicalHost(host) == DockerHub
}
