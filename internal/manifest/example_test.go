package manifest_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pullguard/pullguard/internal/manifest"
	"github.com/pullguard/pullguard/internal/workload"
)

// What `pullguard check` does with a manifest: read the documents, list the
// image uses of each workload, skip what is not one.
func Example() {
	stdin := strings.NewReader(`# Source: app/templates/config.yaml
apiVersion: v1
kind: ConfigMap
metadata: {name: app}
---
# Source: app/templates/cron.yaml
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: team-a}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          imagePullSecrets: [{name: regcred}]
          containers:
          - name: report
            image: ghcr.io/acme/report:v1
`)
	docs, err := manifest.Read([]string{"-"}, stdin)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range docs {
		obj, uses, err := workload.Images(d.Raw)
		if errors.Is(err, workload.ErrNotWorkload) {
			fmt.Printf("%s:%d: skipped %s\n", d.Source, d.Line, obj)
			continue
		}
		if err != nil {
			fmt.Printf("%s:%d: %v\n", d.Source, d.Line, err)
			continue
		}
		for _, u := range uses {
			fmt.Printf("%s:%d: %s container %q image %q at %s, secrets %v\n", d.Source, d.Line, obj, u.Container, u.Image, u.Pointer, u.Pod.ImagePullSecrets)
		}
	}
	// Output:
	// -:2: skipped ConfigMap/app
	// -:7: CronJob/team-a/report container "report" image "ghcr.io/acme/report:v1" at /spec/jobTemplate/spec/template/spec/containers/0/image, secrets [regcred]
}
