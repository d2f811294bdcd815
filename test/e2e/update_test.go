//go:build e2e

package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pullguard/pullguard/webhook"
)

// TestUpdateJudgesOnlyChangedImages: a Deployment whose image no longer
// resolves can still be scaled or relabelled; only a new image is judged.
// The Deployment is stored while its namespace opts out of the webhooks (as
// if the image disappeared after admission: no registry cache can make the
// image resolve), then the namespace opts in.
func TestUpdateJudgesOnlyChangedImages(t *testing.T) {
	t.Parallel()
	gone := pub("shop/gone", "v1")
	name := "update-unchanged"
	r := apply(t, deploymentYAML(t, nsUpdate, name, spec{image: gone}))
	wantExit(t, r, 0)

	r = kubectl(t, "", "label", "namespace", nsUpdate, webhook.OptOutLabel+"-")
	wantExit(t, r, 0)
	// The API server sees the label change through its informer: wait
	// until a new object with the same image is refused.
	probe := podYAML(t, nsUpdate, "update-probe", spec{image: gone})
	eventually(t, 20*time.Second, func() string {
		if r := apply(t, probe, "--dry-run=server"); r.Code == 0 {
			return "the webhooks do not judge " + nsUpdate + " yet:\n" + r.String()
		}
		return ""
	})

	scaled := apply(t, deploymentYAML(t, nsUpdate, name, spec{image: gone, replicas: 3}))
	wantExit(t, scaled, 0)
	wantOutput(t, scaled, fmt.Sprintf("deployment.apps/%s configured", name))
	if got := jsonpath(t, "deployment", nsUpdate, name, "{.spec.replicas}"); got != "3" {
		t.Errorf("replicas %q after the update, want 3", got)
	}

	changed := apply(t, deploymentYAML(t, nsUpdate, name, spec{image: pub("shop/gone", "v2"), replicas: 3}))
	wantExit(t, changed, 1)
	wantOutput(t, changed, deniedBy, "[NotFound]", pub("shop/gone", "v2"))
}
