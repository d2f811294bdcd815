package diagnose

import (
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	notFound := &Finding{Class: NotFound, Message: `image "r/a:v9" not found`, Fix: `use an existing tag such as "r/a:v1"`}
	tests := []struct {
		name   string
		in     Inputs
		cause  Cause
		where  string
		fixHas string
	}{
		{"registry says not found", Inputs{Messages: []string{"failed to resolve image: r/a:v9: not found"}, Finding: notFound}, NotFound, InRegistry, "existing tag"},
		{"registry fine, node DNS fails", Inputs{Node: "n1", Messages: []string{"dial tcp: lookup r on 10.0.0.10:53: no such host"}}, NodeNetwork, OnNode, "nslookup"},
		{"registry fine, node refused", Inputs{Pod: "p", Namespace: "ns", Messages: []string{"401 Unauthorized"}}, NodeCredentials, OnNode, "kubectl delete pod p -n ns"},
		{"expired token", Inputs{Messages: []string{"denied: Your authorization token has expired."}}, NodeCredentials, OnNode, "12 hours"},
		{"node rate limited", Inputs{Namespace: "ns", Messages: []string{"toomanyrequests: You have reached your pull rate limit."}}, RateLimited, OnNode, "kubectl create secret docker-registry"},
		{"disk condition beats an unknown message", Inputs{Node: "n1", DiskPressure: true, Messages: []string{"Back-off pulling image"}}, DiskPressure, OnNode, "crictl rmi --prune"},
		{"disk message beats a registry answer", Inputs{Messages: []string{"no space left on device"}, Finding: &Finding{Class: Unreachable}}, DiskPressure, OnNode, "crictl rmi --prune"},
		{"corrupt on node", Inputs{Image: "r/a:v1", Messages: []string{"failed to extract layer sha256:ab: unexpected EOF"}}, CorruptedContent, OnNode, "crictl rmi r/a:v1"},
		{"content the registry lacks", Inputs{Messages: []string{"could not fetch content descriptor sha256:ab: not found"}, Finding: notFound}, CorruptedContent, InRegistry, "re-push"},
		{"the registry lost a layer pullguard did not look at", Inputs{Messages: []string{"failed to copy: httpReadSeeker: failed open: could not fetch content descriptor sha256:ab (application/vnd.oci.image.layer.v1.tar+gzip) from remote: not found"}}, CorruptedContent, InRegistry, "push it again"},
		{"no config for the node: a compatible-only index", Inputs{Messages: []string{"get image config descriptor: content digest sha256:ab: not found"}, Finding: &Finding{Class: PlatformMismatch, Fix: "build the image for the nodes' own platform"}}, PlatformMismatch, InRegistry, "own platform"},
		{"never pulled", Inputs{Node: "n1", Messages: []string{`Container image "a:1" is not present with pull policy of Never`}}, NotPresent, OnNode, "IfNotPresent"},
		{"exec format with a platform finding", Inputs{Messages: []string{"exec /pause: exec format error"}, Finding: &Finding{Class: PlatformMismatch, Fix: "build the image for every platform"}}, ExecFormat, InRegistry, "every platform"},
		{"pullguard cannot reach it, the node got a 401", Inputs{Messages: []string{"401 Unauthorized"}, Finding: &Finding{Class: Unreachable, Fix: "x"}}, Unauthorized, InRegistry, "x"},
		{"nothing known", Inputs{Namespace: "ns", Pod: "p", Messages: []string{"Back-off pulling image"}}, Unknown, OnNode, "kubectl get events -n ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := Judge(tt.in)
			if v.Cause != tt.cause || v.Where != tt.where || !strings.Contains(v.Fix, tt.fixHas) {
				t.Errorf("Judge = %s %s %q, want %s %s ...%q...", v.Cause, v.Where, v.Fix, tt.cause, tt.where, tt.fixHas)
			}
		})
	}
}
