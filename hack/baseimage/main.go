// Command baseimage builds the base image `make image` gives ko when the
// real one (gcr.io/distroless/static-debian12:nonroot, pinned in .ko.yaml)
// cannot be pulled: CI machines here reach no registry but their own. It is
// the part of distroless static a static Go binary uses — the nonroot user,
// a CA bundle (the build machine's), nsswitch.conf and /tmp — in one layer,
// for each platform, pushed to a local registry. Releases use distroless.
//
// Usage:
//
//	baseimage --ref 127.0.0.1:5000/pullguard/base:static-nonroot \
//	  [--ca-bundle /etc/ssl/certs/ca-certificates.crt] [--platform linux/amd64,linux/arm64]
//
// It prints the pushed reference by digest, for KO_DEFAULTBASEIMAGE.
// Registry credentials come from the docker config ($DOCKER_CONFIG), a
// private CA from $SSL_CERT_FILE.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ref := fs.String("ref", "", "reference to push the base index to (required)")
	caFile := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to ship in the image")
	platformList := fs.String("platform", "linux/amd64,linux/arm64", "comma separated os/arch[/variant] platforms")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *ref == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "baseimage: --ref is required and no arguments are taken")
		return 2
	}
	out, err := build(*ref, *caFile, *platformList)
	if err != nil {
		fmt.Fprintf(stderr, "baseimage: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}

func build(ref, caFile, platformList string) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("--ref %q: %w", ref, err)
	}
	var platforms []v1.Platform
	for p := range strings.SplitSeq(platformList, ",") {
		pl, err := v1.ParsePlatform(strings.TrimSpace(p))
		if err != nil {
			return "", fmt.Errorf("--platform %q: %w", p, err)
		}
		platforms = append(platforms, *pl)
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return "", fmt.Errorf("--ca-bundle: %w", err)
	}
	idx, err := Build(ca, platforms)
	if err != nil {
		return "", err
	}
	if err := remote.WriteIndex(tag, idx, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("push %q: %w", ref, err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(digest.String()).String(), nil
}
