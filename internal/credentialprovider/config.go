// Package credentialprovider runs the kubelet's credential provider plugins
// as the kubelet does (k8s.io/kubernetes pkg/credentialprovider/plugin,
// v1.37), so that images the nodes pull with cloud credentials (ECR,
// Artifact Registry, ACR) are resolved with the same credentials:
//
//   - the configuration is the kubelet's --image-credential-provider-config,
//     a CredentialProviderConfig (kubelet.config.k8s.io/v1) file, or a
//     directory whose *.json, *.yaml and *.yml files are read in byte order
//     and merged; the plugins are the executables of that name in
//     --image-credential-provider-bin-dir;
//   - a plugin runs for an image (a normalized repository,
//     "123.dkr.ecr.eu-west-1.amazonaws.com/team/app") that one of its
//     matchImages matches by the keyring's rules (keychain.Matches), with a
//     credentialprovider.kubelet.k8s.io/v1 CredentialProviderRequest on
//     stdin, the configured args, and the configured env on top of the
//     process's own; it answers a CredentialProviderResponse on stdout;
//   - the answer is kept for its cacheDuration (the provider's
//     defaultCacheDuration when it names none, never when either is 0)
//     under the image, its registry or one global key as its cacheKeyType
//     says, and looked up under those three in that order;
//   - concurrent requests for one image share one run.
//
// What pullguard adds: a run is bounded by the kubelet's one minute, and a
// caller waits for it only part of its own budget, so a hanging plugin
// costs an admission a share of its deadline, never all of it. A plugin
// that fails or times out gives nothing (the kubelet logs and pulls
// without it), and is named as a keychain.Failure. A plugin's output is
// never logged or quoted: it carries credentials.
//
// Plugins that need the pod's service account token (tokenAttributes) are
// loaded but never run: pullguard does not request tokens for pods, so an
// image they match is named as a failure.
package credentialprovider

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/internal/keychain"
)

// ReadConfig reads the kubelet's credential provider configuration at
// path, a file or a directory, strictly as the kubelet decodes it (unknown
// and duplicate fields are errors), and validates it by the kubelet's
// rules. It accepts kubelet.config.k8s.io/v1 and plugins of
// credentialprovider.kubelet.k8s.io/v1 only.
func ReadConfig(path string) ([]kubeletconfigv1.CredentialProvider, error) {
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	var providers []kubeletconfigv1.CredentialProvider
	seen := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("credential provider config: %w", err)
		}
		cfg, err := decodeConfig(data)
		if err != nil {
			return nil, fmt.Errorf("credential provider config %s: %w", f, err)
		}
		for _, p := range cfg.Providers {
			if other, dup := seen[p.Name]; dup {
				return nil, fmt.Errorf("credential provider config %s: provider %q is also in %s", f, p.Name, other)
			}
			seen[p.Name] = f
			providers = append(providers, p)
		}
	}
	if err := validate(providers); err != nil {
		return nil, fmt.Errorf("credential provider config %s: %w", path, err)
	}
	return providers, nil
}

// configFiles is path, or the kubelet's files of directory path in order.
func configFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("credential provider config: %w", err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("credential provider config: %w", err)
	}
	var files []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".json", ".yaml", ".yml":
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("credential provider config: no *.json, *.yaml or *.yml file in directory %s", path)
	}
	return files, nil
}

// The versions this package reads and speaks.
var (
	configAPIVersion = kubeletconfigv1.SchemeGroupVersion.String()
	pluginAPIVersion = credentialproviderv1.SchemeGroupVersion.String()
)

// decodeConfig decodes one document: YAML or JSON, field names matched
// case-sensitively, unknown or duplicate fields refused, as the kubelet's
// strict decoder does.
func decodeConfig(data []byte) (*kubeletconfigv1.CredentialProviderConfig, error) {
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, err
	}
	var cfg kubeletconfigv1.CredentialProviderConfig
	strict, err := sigsjson.UnmarshalStrict(js, &cfg)
	if err != nil {
		return nil, err
	}
	if len(strict) > 0 {
		return nil, errors.Join(strict...)
	}
	if cfg.Kind != "CredentialProviderConfig" {
		return nil, fmt.Errorf("kind is %q, want CredentialProviderConfig", cfg.Kind)
	}
	if cfg.APIVersion != configAPIVersion {
		return nil, fmt.Errorf("apiVersion is %q; pullguard reads %s (kubelet 1.26 and later)", cfg.APIVersion, configAPIVersion)
	}
	return &cfg, nil
}

// validate applies the kubelet's validateCredentialProviderConfig.
func validate(providers []kubeletconfigv1.CredentialProvider) error {
	if len(providers) == 0 {
		return errors.New("providers: at least one provider is required")
	}
	var errs []error
	for i, p := range providers {
		at := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", at))
		case strings.ContainsAny(p.Name, "/ "), p.Name == ".", p.Name == "..":
			errs = append(errs, fmt.Errorf("%s.name %q: a file name, without '/' or spaces, and not '.' or '..'", at, p.Name))
		}
		if p.APIVersion != pluginAPIVersion {
			errs = append(errs, fmt.Errorf("%s.apiVersion %q: pullguard runs plugins of %s", at, p.APIVersion, pluginAPIVersion))
		}
		if len(p.MatchImages) == 0 {
			errs = append(errs, fmt.Errorf("%s.matchImages: at least one is required", at))
		}
		for _, m := range p.MatchImages {
			if err := keychain.ValidPattern(m); err != nil {
				errs = append(errs, fmt.Errorf("%s.matchImages %q: %w", at, m, err))
			}
		}
		switch {
		case p.DefaultCacheDuration == nil:
			errs = append(errs, fmt.Errorf("%s.defaultCacheDuration: required", at))
		case p.DefaultCacheDuration.Duration < 0:
			errs = append(errs, fmt.Errorf("%s.defaultCacheDuration %s: must not be negative", at, p.DefaultCacheDuration.Duration))
		}
	}
	return errors.Join(errs...)
}

// findPlugin is the executable of provider name in binDir, found as the
// kubelet finds it (exec.LookPath, which also tries ".exe" on Windows).
func findPlugin(binDir, name string) (string, error) {
	bin, err := exec.LookPath(filepath.Join(binDir, name))
	if err != nil {
		return "", fmt.Errorf("credential provider %q: no executable %s in %s: %w", name, name, binDir, err)
	}
	return bin, nil
}

// limitedBuffer keeps at most max bytes and fails the write past them, so
// a plugin flooding stdout cannot grow pullguard's memory.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

var errOutputTooLarge = errors.New("answer larger than 1 MiB")

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		return 0, errOutputTooLarge
	}
	return l.buf.Write(p)
}
