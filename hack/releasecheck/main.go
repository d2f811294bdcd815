// Command releasecheck is the Go half of `make release` (hack/release.sh):
//
//	releasecheck set-chart --dir CHART --version X.Y.Z --repository REPO --tag vX.Y.Z --digest sha256:...
//
// makes a copy of the chart the release's: its version and appVersion, and
// the image it installs by default (the source chart has no digest, so
// installing it without one fails its schema);
//
//	releasecheck verify --dist DIST --version vX.Y.Z --repository REPO
//
// checks what the release wrote: the OCI layout holds one multi-arch index
// for linux/amd64 and linux/arm64 whose digest is image.digest and the
// packaged chart's image.digest; SHA256SUMS lists every file and each sum
// holds; the CLI binaries are there for linux and darwin × amd64 and arm64,
// each built for its platform; the SBOMs are SPDX documents.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: releasecheck set-chart|verify [flags]")
		return 2
	}
	fs := flag.NewFlagSet("releasecheck "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var err error
	switch args[0] {
	case "set-chart":
		var o chartRelease
		fs.StringVar(&o.dir, "dir", "", "the chart's directory (a copy: it is edited in place)")
		fs.StringVar(&o.version, "version", "", "chart version and appVersion (X.Y.Z)")
		fs.StringVar(&o.repository, "repository", "", "image repository")
		fs.StringVar(&o.tag, "tag", "", "image tag")
		fs.StringVar(&o.digest, "digest", "", "image index digest")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		err = setChart(o)
	case "verify":
		var o release
		fs.StringVar(&o.dist, "dist", "dist", "the release directory")
		fs.StringVar(&o.version, "version", "", "the release version (vX.Y.Z)")
		fs.StringVar(&o.repository, "repository", "", "the image repository the chart names")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		err = verify(o)
		if err == nil {
			fmt.Fprintf(stdout, "releasecheck: %s verified\n", o.dist)
		}
	default:
		fmt.Fprintf(stderr, "releasecheck: unknown command %q\n", args[0])
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "releasecheck: %v\n", err)
		return 1
	}
	return 0
}
