package credentialprovider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const header = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n"

func providerYAML(name string) string {
	return "- name: " + name + "\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: 10m\n  matchImages: [\"*.dkr.ecr.*.amazonaws.com\"]\n"
}

// TestReadConfig: what the kubelet reads, and refuses, in its config file
// or directory.
func TestReadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string // a directory when more than "config"
		want    []string          // provider names, in order
		wantErr string
	}{
		{name: "yaml", files: map[string]string{"config": header + "providers:\n" + providerYAML("ecr")}, want: []string{"ecr"}},
		{name: "json", files: map[string]string{"config": `{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{"name":"acr","apiVersion":"credentialprovider.kubelet.k8s.io/v1","defaultCacheDuration":"1m","matchImages":["*.azurecr.io"],"args":["--x"],"env":[{"name":"A","value":"b"}]}]}`},
			want: []string{"acr"}},
		{name: "a directory in byte order, other files ignored", files: map[string]string{
			"b.yaml": header + "providers:\n" + providerYAML("second"), "a.json": `{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[]}`,
			"B.yml": header + "providers:\n" + providerYAML("first"), "notes.txt": "ignored",
		}, want: []string{"first", "second"}},
		{name: "one name in two files", files: map[string]string{"a.yaml": header + "providers:\n" + providerYAML("ecr"), "b.yaml": header + "providers:\n" + providerYAML("ecr")},
			wantErr: `provider "ecr" is also in`},
		{name: "a directory without config files", files: map[string]string{"a.txt": "x", "b.conf": "y"}, wantErr: "no *.json, *.yaml or *.yml file"},
		{name: "no providers", files: map[string]string{"config": header + "providers: []\n"}, wantErr: "at least one provider is required"},
		{name: "unknown field", files: map[string]string{"config": header + "providers:\n" + providerYAML("ecr") + "  cacheDuration: 1m\n"}, wantErr: `unknown field "providers[0].cacheDuration"`},
		{name: "field names are case-sensitive", files: map[string]string{"config": header + "providers:\n" + strings.Replace(providerYAML("ecr"), "matchImages", "MatchImages", 1)}, wantErr: "unknown field"},
		{name: "duplicate field", files: map[string]string{"config": header + "providers:\n" + providerYAML("ecr") + "  name: again\n"}, wantErr: "already set"},
		{name: "old config version", files: map[string]string{"config": strings.Replace(header, "/v1", "/v1beta1", 1) + "providers:\n" + providerYAML("ecr")}, wantErr: "pullguard reads kubelet.config.k8s.io/v1"},
		{name: "wrong kind", files: map[string]string{"config": strings.Replace(header, "CredentialProviderConfig", "KubeletConfiguration", 1) + "providers:\n" + providerYAML("ecr")}, wantErr: "want CredentialProviderConfig"},
		{name: "old plugin version", files: map[string]string{"config": header + "providers:\n" + strings.Replace(providerYAML("ecr"), "/v1\n", "/v1beta1\n", 1)}, wantErr: "pullguard runs plugins of credentialprovider.kubelet.k8s.io/v1"},
		{name: "name with a slash", files: map[string]string{"config": header + "providers:\n" + providerYAML("../ecr")}, wantErr: "without '/'"},
		{name: "name ..", files: map[string]string{"config": header + "providers:\n" + providerYAML("..")}, wantErr: "not '.' or '..'"},
		{name: "no matchImages", files: map[string]string{"config": header + "providers:\n- name: x\n  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  defaultCacheDuration: 1m\n"}, wantErr: "matchImages: at least one"},
		{name: "a matchImages that is no URL", files: map[string]string{"config": header + "providers:\n" + strings.Replace(providerYAML("ecr"), `"*.dkr.ecr.*.amazonaws.com"`, `"r.io/%zz"`, 1)}, wantErr: `matchImages "r.io/%zz"`},
		{name: "no defaultCacheDuration", files: map[string]string{"config": header + "providers:\n" + strings.Replace(providerYAML("ecr"), "  defaultCacheDuration: 10m\n", "", 1)}, wantErr: "defaultCacheDuration: required"},
		{name: "negative defaultCacheDuration", files: map[string]string{"config": header + "providers:\n" + strings.Replace(providerYAML("ecr"), "10m", "-1m", 1)}, wantErr: "must not be negative"},
		{name: "not YAML", files: map[string]string{"config": "{"}, wantErr: "credential provider config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, data := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			path := dir
			if _, one := tt.files["config"]; one {
				path = filepath.Join(dir, "config")
			}
			got, err := ReadConfig(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadConfig = %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadConfig: %v", err)
			}
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("providers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadNeedsTheExecutables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(header+"providers:\n"+providerYAML("ecr-credential-provider")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(cfg, dir); err == nil || !strings.Contains(err.Error(), `credential provider "ecr-credential-provider": no executable`) {
		t.Errorf("Load without the executable = %v", err)
	}
	if _, err := Load(cfg, filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "bin dir") {
		t.Errorf("Load without the bin dir = %v", err)
	}
}
