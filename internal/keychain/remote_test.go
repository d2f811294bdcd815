package keychain

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRemoteSendsMatchedCredential checks the keychain through
// go-containerregistry's remote package: the matched credential is sent as
// basic auth, and nothing is sent to a registry without a match.
func TestRemoteSendsMatchedCredential(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var headers []string
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The /v2/ ping is always anonymous; the manifest request is what
		// carries credentials.
		if r.URL.Path != "/v2/" {
			mu.Lock()
			headers = append(headers, r.Header.Get("Authorization"))
			mu.Unlock()
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")

	ref, err := name.ParseReference(host+"/team/app:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		key  string
		want string
	}{
		{name: "matching host", key: "http://" + host + "/", want: "Basic " + b64("alice:s3cret")},
		{name: "other port", key: "127.0.0.1:1", want: ""},
		{name: "host without port", key: "127.0.0.1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: the subtests share the header log.
			k := mustParse(t, `{"auths":{"`+tt.key+`":{"auth":"`+b64("alice:s3cret")+`"}}}`, "secret ns/regcred")
			mu.Lock()
			headers = nil
			mu.Unlock()
			if _, err := remote.Head(ref, remote.WithAuthFromKeychain(k)); err != nil {
				t.Fatalf("Head: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(headers) == 0 {
				t.Fatal("no request reached the registry")
			}
			for _, h := range headers {
				if h != tt.want {
					t.Errorf("Authorization = %q, want %q", h, tt.want)
				}
			}
		})
	}
}
