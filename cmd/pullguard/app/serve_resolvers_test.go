package app

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/metrics"
	"github.com/pullguard/pullguard/internal/registrytest"
	"github.com/pullguard/pullguard/internal/resolve"
	"github.com/pullguard/pullguard/policies/v1alpha1"
)

func newPool(t *testing.T, base addressguard.Config) *networkResolvers {
	t.Helper()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := newNetworkResolvers(base, nil, resolve.DefaultMaxFlight, resolve.DefaultTagStaleness, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNetworkResolversShareByAllowance(t *testing.T) {
	t.Parallel()
	base := addressguard.Config{AllowPrivate: true, InsecureRegistries: []string{"flag.example:5000"}}
	tests := []struct {
		name string
		a, b v1alpha1.Network
		same bool
	}{
		{"equal networks", v1alpha1.Network{}, v1alpha1.Network{}, true},
		{"a policy repeating a flag adds nothing", v1alpha1.Network{}, v1alpha1.Network{AllowPrivate: true, InsecureRegistries: []v1alpha1.Host{"flag.example:5000"}}, true},
		{"host order and case do not matter",
			v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{"a.example", "B.example"}},
			v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{"b.example", "a.example", "a.example"}}, true},
		{"loopback widens", v1alpha1.Network{}, v1alpha1.Network{AllowLoopback: true}, false},
		{"another insecure registry widens", v1alpha1.Network{}, v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{"other.example"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPool(t, base)
			if same := p.Lookup(tt.a) == p.Lookup(tt.b); same != tt.same {
				t.Errorf("Lookup(%+v) == Lookup(%+v) is %v, want %v", tt.a, tt.b, same, tt.same)
			}
		})
	}
}

// TestNetworkResolversGuard resolves a loopback registry: refused under the
// flags alone, allowed once the policy's network allows loopback.
func TestNetworkResolversGuard(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0", v1.Platform{OS: "linux", Architecture: "amd64"})
	tests := []struct {
		name      string
		network   v1alpha1.Network
		wantClass image.Class // "" = resolves
	}{
		{"flags only: loopback refused", v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{v1alpha1.Host(reg.Host)}}, image.AddressBlocked},
		{"policy allows loopback", v1alpha1.Network{AllowLoopback: true, InsecureRegistries: []v1alpha1.Host{v1alpha1.Host(reg.Host)}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newPool(t, addressguard.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			ref, err := image.Parse(reg.Ref("app:1.0"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Lookup(tt.network).Resolve(ctx, resolve.Request{Ref: ref})
			var re *image.Error
			switch {
			case tt.wantClass == "" && err != nil:
				t.Fatalf("Resolve: %v, want success", err)
			case tt.wantClass != "" && (!errors.As(err, &re) || re.Class != tt.wantClass):
				t.Fatalf("Resolve = %v, want class %s", err, tt.wantClass)
			}
		})
	}
}

// TestNetworkResolversStatsSurviveEviction checks that the cache counters
// only grow when a resolver is dropped for newer networks.
func TestNetworkResolversStatsSurviveEviction(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	reg.PushImage(t, "app:1.0", v1.Platform{OS: "linux", Architecture: "amd64"})
	p := newPool(t, addressguard.Config{AllowLoopback: true, InsecureRegistries: []string{reg.Host}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ref, err := image.Parse(reg.Ref("app:1.0"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.Lookup(v1alpha1.Network{}).Resolve(ctx, resolve.Request{Ref: ref}); err != nil {
			t.Fatal(err)
		}
	}
	// The cold lookup's GET by tag brings the digest's facts with it.
	want := resolve.CacheStats{TagHits: 1, TagMisses: 1, DigestHits: 2}
	if got := p.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	for i := range maxNetworks {
		p.Lookup(v1alpha1.Network{InsecureRegistries: []v1alpha1.Host{v1alpha1.Host(fmt.Sprintf("r%d.example", i))}})
	}
	if p.live.Contains("loopback=true private=false insecure=" + reg.Host) {
		t.Fatal("the first resolver was not evicted")
	}
	if got := p.Stats(); got != want {
		t.Errorf("Stats() after eviction = %+v, want %+v", got, want)
	}
}

// widen is the one rule check and serve share: a policy adds to the flags'
// allowances and never takes any away.
func TestWiden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		base   addressguard.Config
		policy v1alpha1.Network
		want   addressguard.Config
	}{
		{"nothing to add", addressguard.Config{AllowLoopback: true}, v1alpha1.Network{}, addressguard.Config{AllowLoopback: true}},
		{"a policy cannot narrow the flags",
			addressguard.Config{AllowLoopback: true, AllowPrivate: true, InsecureRegistries: []string{"r.local"}},
			v1alpha1.Network{},
			addressguard.Config{AllowLoopback: true, AllowPrivate: true, InsecureRegistries: []string{"r.local"}}},
		{"a policy widens, hosts merged once and lower-cased",
			addressguard.Config{InsecureRegistries: []string{"R.local:5000", "a.local"}},
			v1alpha1.Network{AllowPrivate: true, InsecureRegistries: []v1alpha1.Host{"r.local:5000", "b.local"}},
			addressguard.Config{AllowPrivate: true, InsecureRegistries: []string{"a.local", "b.local", "r.local:5000"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, widen(tt.base, tt.policy), cmpopts.IgnoreFields(addressguard.Config{}, "RootCAs")); diff != "" {
				t.Errorf("widen (-want +got):\n%s", diff)
			}
		})
	}
}
