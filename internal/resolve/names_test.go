package resolve

import (
	"bufio"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/distribution/reference"

	"github.com/pullguard/pullguard/internal/image"
)

// Every reference the kubelet accepts is asked of the registry containerd
// would pull it from: the host its resolver dials (the normalized name's
// first component; go-containerregistry spells Docker Hub index.docker.io),
// the same repository path, and the same tag or digest (ParseDockerRef
// drops the tag of a tag+digest reference).
func TestNameRefAddressesWhatContainerdPulls(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../image/testdata/references.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := New()
	checked := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		s, err := strconv.Unquote(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		pulled, err := reference.ParseDockerRef(s)
		if err != nil {
			continue
		}
		ref, err := image.Parse(s)
		if err != nil {
			t.Errorf("%q: containerd pulls it, image.Parse refuses: %v", s, err)
			continue
		}
		host, path, _ := strings.Cut(pulled.Name(), "/")
		nref, err := r.nameRef(ref)
		if err != nil {
			// The grammar takes any hex digits and colons in brackets;
			// what is not an IPv6 address no node can dial either, and
			// the lookup says so (Unreachable).
			if !undialableIPv6(host) {
				t.Errorf("%q: no go-containerregistry name: %v", s, err)
			}
			continue
		}
		gotHost := nref.Context().RegistryStr()
		if image.IsDockerHub(host) && gotHost == "index.docker.io" {
			gotHost = host
		}
		var id string
		switch p := pulled.(type) {
		case reference.Digested:
			id = p.Digest().String()
		case reference.Tagged:
			id = p.Tag()
		}
		if gotHost != host || nref.Context().RepositoryStr() != path || nref.Identifier() != id {
			t.Errorf("%q: asks %s / %s / %s, containerd pulls %s / %s / %s", s,
				gotHost, nref.Context().RepositoryStr(), nref.Identifier(), host, path, id)
		}
		checked++
	}
	if checked < 1000 {
		t.Errorf("checked %d references, want at least 1000", checked)
	}
}

func undialableIPv6(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return strings.Contains(host, ":") && net.ParseIP(host) == nil
}
