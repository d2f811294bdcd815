//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/pullguard/pullguard/test/bed"
	"github.com/pullguard/pullguard/webhook"
)

// TestPullFromWhereTheNodesPull: a `pullguard serve` given the kubelet's
// credential provider config (with a plugin that answers the private
// registry's credentials) and the nodes' hosts.toml (a mirror, with its
// CA, for a registry name nothing resolves) admits a private image without
// pull secrets and resolves the mirrored name through the mirror, which
// the bed's own serve refuses and cannot reach.
func TestPullFromWhereTheNodesPull(t *testing.T) {
	t.Parallel()
	const ns = "e2e-nodepull"
	wantExit(t, kubectl(t, "", "create", "namespace", ns), 0)
	dir := t.TempDir()

	bin := filepath.Join(dir, "plugins")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "cloud"), "../../internal/credentialprovider/testdata/plugin").CombinedOutput(); err != nil {
		t.Fatalf("building the test plugin: %v\n%s", err, out)
	}
	providers := filepath.Join(dir, "credential-providers.yaml")
	writeFile(t, providers, fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
- name: cloud
  apiVersion: credentialprovider.kubelet.k8s.io/v1
  matchImages: [%q]
  defaultCacheDuration: 1m
  env:
  - {name: PLUGIN_USER, value: %q}
  - {name: PLUGIN_PASSWORD, value: %q}
`, the.Private.Host, the.Private.User, the.Private.Password))
	certsD := filepath.Join(dir, "certs.d")
	writeFile(t, filepath.Join(certsD, "mirrored.example", "hosts.toml"), fmt.Sprintf(`server = "https://mirrored.example"
[host."https://%s"]
  capabilities = ["pull", "resolve"]
  ca = %q
`, the.Public.Host, the.CA.PEMPath))

	serveDir := filepath.Join(dir, "serve")
	if err := os.MkdirAll(serveDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s, err := bed.StartServe(ctx, bed.ServeOptions{
		Bin: the.Binaries.Pullguard, Dir: serveDir, Kubeconfig: the.API.Kubeconfig, CA: the.CA,
		Args: []string{
			"--image-credential-provider-config", providers, "--image-credential-provider-bin-dir", bin,
			"--node-registry-config", certsD,
		},
	})
	if s != nil && s.Proc != nil {
		defer s.Proc.Stop()
	}
	if err != nil {
		t.Fatalf("pullguard serve: %v", err)
	}
	mirrored := "mirrored.example/" + repoAPI
	tests := []struct {
		name, image string
		wantWarning string // "": admitted without a warning
	}{
		{name: "private image with the plugin's credentials", image: priv(repoBilling, tagBilling)},
		{name: "mirrored name through the nodes' mirror", image: mirrored + ":" + tagAPI},
		// containerd goes on to the upstream after the mirror's 404; the
		// upstream cannot be reached, so the answer is not known.
		{name: "a tag the mirror lacks", image: mirrored + ":v9.9.9", wantWarning: `image "mirrored.example/shop/api:v9.9.9": registry unreachable from pullguard`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := validate(t, s, ns, tt.image)
			if !resp.Allowed {
				t.Fatalf("denied: %v", resp.Result)
			}
			warnings := strings.Join(resp.Warnings, "\n")
			if (tt.wantWarning == "") != (warnings == "") || !strings.Contains(warnings, tt.wantWarning) {
				t.Errorf("warnings %q, want %q", warnings, tt.wantWarning)
			}
		})
	}
	log, err := os.ReadFile(s.Proc.Log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), the.Private.Password) {
		t.Error("serve's log holds the password the plugin answered")
	}
}

// validate sends serve's validating webhook the review of a CREATE of a
// pod running image, as the API server would.
func validate(t *testing.T, s *bed.Serve, ns, img string) *admissionv1.AdmissionResponse {
	t.Helper()
	pod := corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "nodepull", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: img}}},
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       "e2e-nodepull",
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: ns, Name: pod.Name, Operation: admissionv1.Create,
			Object: runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CABundle)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.Post(s.URL+webhook.ValidatePath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out admissionv1.AdmissionReview
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Response == nil {
		t.Fatalf("review answer: %v (status %s)", err, resp.Status)
	}
	return out.Response
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
