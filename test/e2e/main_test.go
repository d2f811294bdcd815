//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/test/bed"
)

// suite is the bed TestMain starts once for all cases, with the registries
// in trouble that only the suite needs.
type suite struct {
	*bed.Bed
	// down is an address nothing listens on; hang accepts connections and
	// never answers.
	down string
	hang *bed.Hanging
}

// the is the suite of this test binary, set once by TestMain before any
// test runs and only read after.
var the *suite

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	s, err := setUp(context.Background())
	defer s.tearDown()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: setting up the bed: %v\n", err)
		s.DumpLogs(os.Stderr, 20000)
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: bed ready in %s (API server %s, registries %s and %s, webhook %s)\n",
		time.Since(start).Round(time.Millisecond), s.API.Config.Host, s.Public.Host, s.Private.Host, s.Serve.URL)
	the = s
	cases := time.Now()
	code := m.Run()
	fmt.Fprintf(os.Stderr, "e2e: cases ran in %s\n", time.Since(cases).Round(time.Millisecond))
	if code != 0 {
		s.DumpLogs(os.Stderr, 20000)
	}
	return code
}

// setUp starts the shared bed with the suite's images, nodes, namespaces,
// secrets and policies; the e2e tag asks for the bed, so a missing binary
// is an error, not a skip. It returns what it started even on error.
func setUp(ctx context.Context) (*suite, error) {
	s := &suite{Bed: &bed.Bed{}}
	bins, err := bed.BinariesFromEnv(filepath.Join("..", "..", "bin", "pullguard"))
	if err != nil {
		return s, err
	}
	dir, err := os.MkdirTemp("", "pullguard-e2e-")
	if err != nil {
		return s, err
	}
	if s.down, err = bed.ClosedAddress(); err != nil {
		return s, err
	}
	if s.hang, err = bed.NewHanging(); err != nil {
		return s, err
	}
	s.Bed, err = bed.Start(ctx, bed.Options{
		Dir:         dir,
		Binaries:    bins,
		CRDDir:      filepath.Join("..", "..", "policies", "crd"),
		PrivateUser: "billing-bot",
		Images:      fixtureImages,
		NodeArchs:   []string{"amd64", "arm64"},
		Prepare:     createClusterObjects,
		ServeArgs:   []string{"--zap-log-level", "debug"},
		// No tag: denied by the built-in policy.
		Probe:    func(b *bed.Bed) *corev1.Pod { return pod("probe", nsApps, b.Public.Host+"/"+repoAPI) },
		Progress: os.Stderr,
	})
	return s, err
}

// tearDown stops what setUp started; it runs even when setUp or the cases
// failed. PULLGUARD_E2E_KEEP keeps the bed's directory.
func (s *suite) tearDown() {
	if err := s.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
	}
	s.hang.Close()
	if s.Dir != "" && os.Getenv("PULLGUARD_E2E_KEEP") == "" {
		_ = os.RemoveAll(s.Dir)
	}
}
