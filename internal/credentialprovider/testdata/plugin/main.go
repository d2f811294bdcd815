// Command plugin is a credential provider plugin for the tests: it speaks
// credentialprovider.kubelet.k8s.io/v1 and does what its environment says
// (the config's env, which the tests thereby check is passed).
//
//	PLUGIN_MODE        answer (default), fail, hang or garbage
//	PLUGIN_USER        user name of the answer; PLUGIN_PASSWORD its password
//	PLUGIN_AUTH_KEY    the key of the answer's auth map (default: the image's registry)
//	PLUGIN_CACHE_KEY   cacheKeyType (default Registry)
//	PLUGIN_CACHE_FOR   cacheDuration, a Go duration (default: none given)
//	PLUGIN_RUNS        a file that gets one line per run: the image asked for
//	PLUGIN_DELAY       a Go duration to wait before answering
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
)

const secretLooking = "hunter2-token-that-must-never-be-shown"

func main() {
	var req credentialproviderv1.CredentialProviderRequest
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "bad request:", err)
		os.Exit(3)
	}
	if req.APIVersion != "credentialprovider.kubelet.k8s.io/v1" || req.Kind != "CredentialProviderRequest" || req.Image == "" {
		fmt.Fprintf(os.Stderr, "unexpected request %+v\n", req)
		os.Exit(3)
	}
	if f := os.Getenv("PLUGIN_RUNS"); f != "" {
		out, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			os.Exit(4)
		}
		fmt.Fprintln(out, req.Image)
		_ = out.Close()
	}
	if d, err := time.ParseDuration(os.Getenv("PLUGIN_DELAY")); err == nil {
		time.Sleep(d)
	}
	switch os.Getenv("PLUGIN_MODE") {
	case "fail":
		fmt.Println(secretLooking)
		fmt.Fprintln(os.Stderr, "token", secretLooking)
		os.Exit(1)
	case "hang":
		time.Sleep(20 * time.Second) // bounded, should the test binary exit first
	case "garbage":
		fmt.Println(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","auth":{"x":{"password":"` + secretLooking + `"}}, "extra": 1}`)
		return
	}
	key := os.Getenv("PLUGIN_AUTH_KEY")
	if key == "" {
		key, _, _ = strings.Cut(req.Image, "/")
	}
	resp := credentialproviderv1.CredentialProviderResponse{
		TypeMeta:     metav1.TypeMeta{APIVersion: "credentialprovider.kubelet.k8s.io/v1", Kind: "CredentialProviderResponse"},
		CacheKeyType: credentialproviderv1.PluginCacheKeyType(envOr("PLUGIN_CACHE_KEY", "Registry")),
		Auth: map[string]credentialproviderv1.AuthConfig{
			key: {Username: os.Getenv("PLUGIN_USER"), Password: os.Getenv("PLUGIN_PASSWORD")},
		},
	}
	if d := os.Getenv("PLUGIN_CACHE_FOR"); d != "" {
		dur, err := time.ParseDuration(d)
		if err != nil {
			os.Exit(5)
		}
		resp.CacheDuration = &metav1.Duration{Duration: dur}
	}
	_ = json.NewEncoder(os.Stdout).Encode(resp)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
