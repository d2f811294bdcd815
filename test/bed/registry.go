package bed

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// registryReadyTimeout bounds a registry's start, up to /v2/ answering.
const registryReadyTimeout = 30 * time.Second

// Registry is one distribution registry of the bed on 127.0.0.1 with TLS
// from the bed's CA; with a user it demands htpasswd basic auth.
type Registry struct {
	Host     string // 127.0.0.1:PORT
	User     string
	Password string
	Proc     *Process
}

// Auth is what pushes present to the registry.
func (r *Registry) Auth() authn.Authenticator {
	if r.User == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.User, Password: r.Password}
}

// Ref is the reference of repo:tag on this registry.
func (r *Registry) Ref(repo, tag string) string { return fmt.Sprintf("%s/%s:%s", r.Host, repo, tag) }

// PullSecret is a kubernetes.io/dockerconfigjson Secret for the registry,
// as `kubectl create secret docker-registry` makes it.
func (r *Registry) PullSecret(ns, name string) (*corev1.Secret, error) {
	auth := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Password))
	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{
		r.Host: map[string]string{"username": r.User, "password": r.Password, "auth": auth},
	}})
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: cfg},
	}, nil
}

// StartRegistry runs distribution's registry binary bin with its storage,
// certificate and configuration in dir, on a free loopback port. user ""
// means anonymous access; otherwise pushes and pulls need user and a random
// password (Registry.Password). It returns once /v2/ answers over TLS.
func StartRegistry(ctx context.Context, bin, dir string, ca *Authority, user string) (*Registry, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	if err := ca.Serving(dir, "server.crt", "server.key"); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), User: user}
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
`, dir, r.Host)
	want := http.StatusOK
	if user != "" {
		r.Password = randomPassword()
		// distribution accepts only bcrypt entries in its htpasswd file.
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), fmt.Appendf(nil, "%s:%s\n", user, hash), 0o600); err != nil {
			return nil, err
		}
		config += fmt.Sprintf("auth:\n  htpasswd:\n    realm: pullguard-bed\n    path: %s/htpasswd\n", dir)
		want = http.StatusUnauthorized
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}
	r.Proc, err = StartProcess("registry "+r.Host, filepath.Join(dir, "registry.log"),
		[]string{"OTEL_TRACES_EXPORTER=none"}, bin, "serve", cfgPath)
	if err != nil {
		return nil, err
	}
	// /v2/ answering over TLS verified with the CA (401 when auth is on)
	// proves the listener, the certificate and the auth set-up at once.
	client := &http.Client{Transport: ca.Transport(), Timeout: 2 * time.Second}
	if err := WaitHTTP(ctx, r.Proc, client, "https://"+r.Host+"/v2/", registryReadyTimeout, want); err != nil {
		r.Proc.Stop()
		return nil, err
	}
	return r, nil
}

func randomPassword() string {
	buf := make([]byte, 16)
	_, _ = rand.Read(buf)
	return hex.EncodeToString(buf)
}
