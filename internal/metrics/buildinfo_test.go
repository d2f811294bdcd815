package metrics

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if err := RegisterBuildInfo(reg, "v1.2.3", "0123abc"); err != nil {
		t.Fatal(err)
	}
	want := `# HELP pullguard_build_info A metric with a constant 1 labelled with the version, commit and Go version pullguard was built from.
# TYPE pullguard_build_info gauge
pullguard_build_info{commit="0123abc",goversion="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pullguard_build_info"); err != nil {
		t.Error(err)
	}
	// A second registration is a programming error the server must see.
	if err := RegisterBuildInfo(reg, "v1.2.3", "0123abc"); err == nil {
		t.Error("registering build info twice succeeded")
	}
	if err := RegisterBuildInfo(nil, "v", "c"); err == nil {
		t.Error("a nil registerer was accepted")
	}
}
