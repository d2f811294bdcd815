package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// At the most verbose level the flags allow, a list of Secrets read by
// client-go (as the cache does when the API server cannot stream lists)
// leaves no pull secret in the log; without the cap it would.
func TestMostVerboseLogHoldsNoSecret(t *testing.T) {
	t.Parallel()
	const secret = "aHVudGVyMi1kb2NrZXJjb25maWdqc29u" // base64, as a Secret holds it
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"SecretList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"regcred"},` +
			`"type":"kubernetes.io/dockerconfigjson","stringData":{},"data":{".dockerconfigjson":"` + secret + `"}}]}`))
	}))
	t.Cleanup(srv.Close)
	list := func(l logr.Logger) {
		t.Helper()
		cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		ctx := logr.NewContext(context.Background(), l)
		if _, err := cs.CoreV1().Secrets("team-a").List(ctx, metav1.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name   string
		capped bool
	}{{"capped", true}, {"uncapped", false}} {
		var buf bytes.Buffer
		opts := &zap.Options{Development: true, Level: zapcore.Level(-10)}
		l := zap.New(zap.UseFlagOptions(opts), zap.WriteTo(&buf))
		if tt.capped {
			l = newLogger(opts, &buf)
		}
		list(l)
		leaked := strings.Contains(buf.String(), secret)
		if leaked == tt.capped {
			t.Errorf("%s: secret in the log = %v; log:\n%s", tt.name, leaked, buf.String())
		}
	}
}
