//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/test/bed"
)

// TestOversizedReviewIsAnswered: a pod so large that the API server's
// review of it is over what pullguard reads is still answered, with the
// request's uid, so the API server takes the answer (a denial saying why)
// instead of rejecting it and, under failurePolicy Ignore, admitting the
// pod unchecked.
func TestOversizedReviewIsAnswered(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "oversized", Namespace: nsApps},
	}
	// Defaulting adds about 200 bytes to each container, so the review is
	// over 7 MiB while the request stays under the API server's 3 MiB.
	for i := range 40000 {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: pub(repoAPI, tagAPI)})
	}
	body, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	r := kubectl(t, string(body), "create", "--dry-run=server", "-f", "-")
	wantExit(t, r, 1)
	wantOutput(t, r, deniedBy, "pullguard cannot judge this object: its AdmissionReview is over 7 MiB")
}

// TestVerboseLogHoldsNoSecret: at the most verbose log level, in both of
// client-go's list modes (streaming watch-lists, and plain lists whose
// response bodies client-go logs), no pull secret reaches serve's log.
func TestVerboseLogHoldsNoSecret(t *testing.T) {
	t.Parallel()
	const (
		ns       = "e2e-verbose"
		password = "verbose-log-pass-7f3a"
	)
	auth := base64.StdEncoding.EncodeToString([]byte("bot:" + password))
	config := fmt.Sprintf(`{"auths":{"registry.example.com":{"auth":%q}}}`, auth)
	r := kubectl(t, "", "create", "namespace", ns)
	wantExit(t, r, 0)
	r = kubectl(t, "", "create", "secret", "generic", "regcred", "-n", ns,
		"--type=kubernetes.io/dockerconfigjson", "--from-literal=.dockerconfigjson="+config)
	wantExit(t, r, 0)
	secrets := []string{password, auth, base64.StdEncoding.EncodeToString([]byte(config))}
	for _, mode := range []string{"true", "false"} {
		t.Run("WatchListClient="+mode, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "serve")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			s, err := bed.StartServe(ctx, bed.ServeOptions{
				Bin: the.Binaries.Pullguard, Dir: dir, Kubeconfig: the.API.Kubeconfig, CA: the.CA,
				Args: []string{"--zap-log-level=10"},
				Env:  []string{"KUBE_FEATURE_WatchListClient=" + mode},
			})
			if s != nil && s.Proc != nil {
				defer s.Proc.Stop()
			}
			if err != nil {
				t.Fatalf("pullguard serve: %v", err)
			}
			// Ready means the caches listed the Secrets; give the watch a
			// moment too, then read everything it wrote.
			time.Sleep(2 * time.Second)
			log, err := os.ReadFile(s.Proc.Log)
			if err != nil {
				t.Fatal(err)
			}
			// zap names V(2) and beyond "Level(-2)" and so on.
			if !strings.Contains(string(log), `"level":"Level(-`) {
				t.Errorf("the log has no V(2) lines: the verbosity did not take:\n%.3000s", log)
			}
			// client-go logs protobuf bodies as hex dumps: read them back.
			text := string(log) + "\n" + string(hexDumped(string(log)))
			for _, sec := range secrets {
				if strings.Contains(text, sec) {
					t.Errorf("the log holds a pull secret (%d bytes of it)", len(sec))
				}
			}
			if strings.Contains(text, `"msg":"Response Body"`) {
				t.Errorf("the log holds API response bodies")
			}
		})
	}
}

// hexDumped is the bytes of every hex.Dump line in log ("00000010  65 74 4c
// ...  |etL...|"), concatenated.
func hexDumped(log string) []byte {
	var out []byte
	for _, line := range strings.Split(strings.ReplaceAll(log, `\n`, "\n"), "\n") {
		i := strings.Index(line, "  ")
		j := strings.Index(line, "  |")
		if i < 0 || j <= i {
			continue
		}
		for _, f := range strings.Fields(line[i:j]) {
			if b, err := hex.DecodeString(f); err == nil && len(b) == 1 {
				out = append(out, b[0])
			}
		}
	}
	return out
}
