//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/crypto/bcrypt"
)

// registry is one distribution registry of the bed on 127.0.0.1 with TLS
// from the bed's CA; with a user it demands htpasswd basic auth.
type registry struct {
	host     string // 127.0.0.1:PORT
	user     string
	password string
	proc     *process
}

// auth is what pushes and pull secrets present to the registry.
func (r *registry) auth() authn.Authenticator {
	if r.user == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.user, Password: r.password}
}

// startRegistry runs the registry binary from dir; user "" means no auth.
func startRegistry(ctx context.Context, bin, dir string, ca *authority, user, password string) (*registry, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	if err := ca.serving(dir, "server.crt", "server.key", time.Now().UnixNano()); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &registry{host: fmt.Sprintf("127.0.0.1:%d", port), user: user, password: password}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %[1]s/data
  delete:
    enabled: true
http:
  addr: %[2]s
  tls:
    certificate: %[1]s/server.crt
    key: %[1]s/server.key
`, dir, r.host)
	want := http.StatusOK
	if user != "" {
		// distribution accepts only bcrypt entries in its htpasswd file.
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), fmt.Appendf(nil, "%s:%s\n", user, hash), 0o600); err != nil {
			return nil, err
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: pullguard-e2e\n    path: %s/htpasswd\n", dir)
		want = http.StatusUnauthorized
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	r.proc, err = start("registry "+r.host, filepath.Join(dir, "registry.log"),
		[]string{"OTEL_TRACES_EXPORTER=none"}, bin, "serve", cfgPath)
	if err != nil {
		return nil, err
	}
	// /v2/ answering over TLS verified with the CA (401 when auth is on)
	// proves the listener, the certificate and the auth set-up at once.
	client := &http.Client{Transport: ca.transport(), Timeout: 2 * time.Second}
	if err := waitHTTP(ctx, r.proc, client, "https://"+r.host+"/v2/", 30*time.Second, want); err != nil {
		r.proc.stop()
		return nil, err
	}
	return r, nil
}
