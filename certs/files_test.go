package certs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "certs")
	// An older layout: plain files, replaced by links.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		cert, key   string
		wantChanged bool
	}{
		{"cert 1", "key 1", true},
		{"cert 1", "key 1", false},
		{"cert 2", "key 2", true},
	}
	for i, s := range steps {
		changed, err := writeFiles(dir, []byte(s.cert), []byte(s.key))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if changed != s.wantChanged {
			t.Errorf("step %d: changed %t, want %t", i, changed, s.wantChanged)
		}
		cert, key := readFiles(t, dir)
		if diff := cmp.Diff([]string{s.cert, s.key}, []string{string(cert), string(key)}); diff != "" {
			t.Errorf("step %d (-want +got):\n%s", i, diff)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != keyFileMode {
		t.Errorf("tls.key mode %v, want %v", mode, os.FileMode(keyFileMode))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var dataDirs []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), dataDirGlob) {
			dataDirs = append(dataDirs, e.Name())
		}
	}
	if len(dataDirs) != 1 {
		t.Errorf("data directories %v, want only the current one", dataDirs)
	}
}

// FuzzPlan feeds arbitrary Secret contents: plan must not panic, and what
// it returns must be valid on the next look.
func FuzzPlan(f *testing.F) {
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("x"), []byte(""), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, caCrt, caKey, tlsCrt, tlsKey []byte) {
		o, err := Options{Namespace: "ns", SecretName: "s", ServiceName: "svc", CertDir: "unused"}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		data := map[string][]byte{"ca.crt": caCrt, "ca.key": caKey, "tls.crt": tlsCrt, "tls.key": tlsKey}
		got, _, err := plan(data, o, "ns/s")
		if err != nil {
			t.Fatal(err)
		}
		if _, reasons, err := plan(got, o, "ns/s"); err != nil || len(reasons) > 0 {
			t.Errorf("plan's own output needs more changes: %v %v", reasons, err)
		}
	})
}
