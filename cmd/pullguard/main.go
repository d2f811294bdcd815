// Command pullguard checks that every image a Kubernetes workload names would
// pull: as an admission webhook, and on manifest files in CI (`pullguard check`).
package main

import (
	"os"

	"github.com/pullguard/pullguard/cmd/pullguard/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
