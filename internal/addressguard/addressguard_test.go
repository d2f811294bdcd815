package addressguard

import (
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	none := Config{}
	loop := Config{AllowLoopback: true}
	priv := Config{AllowPrivate: true}
	all := Config{AllowLoopback: true, AllowPrivate: true}
	configs := []struct {
		name string
		c    Config
	}{{"none", none}, {"loopback", loop}, {"private", priv}, {"all", all}}

	// want is the reason per config in the order of configs; "" = allowed.
	tests := []struct {
		addr string
		want [4]string
	}{
		// public
		{"8.8.8.8", [4]string{"", "", "", ""}},
		{"2001:4860:4860::8888", [4]string{"", "", "", ""}},
		{"172.32.0.1", [4]string{"", "", "", ""}},  // just past 172.16/12
		{"100.128.0.1", [4]string{"", "", "", ""}}, // just past 100.64/10
		// loopback
		{"127.0.0.1", [4]string{reasonLoopback, "", reasonLoopback, ""}},
		{"127.255.255.254", [4]string{reasonLoopback, "", reasonLoopback, ""}},
		{"::1", [4]string{reasonLoopback, "", reasonLoopback, ""}},
		{"::ffff:127.0.0.1", [4]string{reasonLoopback, "", reasonLoopback, ""}},
		// private
		{"10.0.0.1", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"172.16.0.1", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"172.31.255.255", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"192.168.1.1", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"100.64.0.1", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"fc00::1", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"fd12:3456::1", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		{"::ffff:10.1.2.3", [4]string{reasonPrivate, reasonPrivate, "", ""}},
		// always refused
		{"169.254.169.254", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"::ffff:169.254.169.254", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"64:ff9b::a9fe:a9fe", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"64:ff9b::7f00:1", [4]string{reasonLoopback, "", reasonLoopback, ""}},
		{"169.254.170.2", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"fd00:ec2::254", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"100.100.100.200", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"168.63.129.16", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"fe80::1", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"fe80::1%eth0", [4]string{reasonMetadata, reasonMetadata, reasonMetadata, reasonMetadata}},
		{"0.0.0.0", [4]string{reasonUnspecified, reasonUnspecified, reasonUnspecified, reasonUnspecified}},
		{"0.1.2.3", [4]string{reasonUnspecified, reasonUnspecified, reasonUnspecified, reasonUnspecified}},
		{"::", [4]string{reasonUnspecified, reasonUnspecified, reasonUnspecified, reasonUnspecified}},
		{"::ffff:0.0.0.0", [4]string{reasonUnspecified, reasonUnspecified, reasonUnspecified, reasonUnspecified}},
		{"224.0.0.1", [4]string{reasonMulticast, reasonMulticast, reasonMulticast, reasonMulticast}},
		{"239.255.255.250", [4]string{reasonMulticast, reasonMulticast, reasonMulticast, reasonMulticast}},
		{"ff02::1", [4]string{reasonMulticast, reasonMulticast, reasonMulticast, reasonMulticast}},
		{"255.255.255.255", [4]string{reasonMulticast, reasonMulticast, reasonMulticast, reasonMulticast}},
	}
	for _, tt := range tests {
		addr := netip.MustParseAddr(tt.addr)
		for i, cfg := range configs {
			t.Run(tt.addr+"/"+cfg.name, func(t *testing.T) {
				t.Parallel()
				err := cfg.c.Check("registry.example", addr)
				want := tt.want[i]
				switch {
				case want == "" && err != nil:
					t.Errorf("Check(%s) = %v, want allowed", addr, err)
				case want != "":
					be, ok := err.(*BlockedError)
					if !ok {
						t.Fatalf("Check(%s) = %v, want *BlockedError %q", addr, err, want)
					}
					if be.Reason != want || be.Addr != addr || be.Host != "registry.example" {
						t.Errorf("Check(%s) = %+v, want reason %q", addr, be, want)
					}
				}
			})
		}
	}
}

func TestCheckInvalidAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{}, {AllowLoopback: true, AllowPrivate: true}} {
		if err := c.Check("x", netip.Addr{}); err == nil {
			t.Errorf("%+v: Check(zero Addr) = nil, want refused", c)
		}
	}
}

func TestBlockedErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *BlockedError
		want string
	}{
		{
			err:  &BlockedError{Host: "metadata.internal", Addr: netip.MustParseAddr("169.254.169.254"), Reason: reasonMetadata},
			want: `address 169.254.169.254 of "metadata.internal" is blocked: link-local and cloud metadata addresses are never dialled`,
		},
		{
			err:  &BlockedError{Host: "127.0.0.1", Addr: netip.MustParseAddr("127.0.0.1"), Reason: reasonLoopback},
			want: `address 127.0.0.1 is blocked: loopback addresses are dialled only when allowLoopback is set`,
		},
		{
			err:  &BlockedError{Addr: netip.MustParseAddr("10.0.0.1"), Reason: reasonPrivate},
			want: `address 10.0.0.1 is blocked: private addresses are dialled only when allowPrivate is set`,
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestAllowsInsecure(t *testing.T) {
	t.Parallel()
	c := Config{InsecureRegistries: []string{"Registry.Local", "mirror.example:5000", "[::1]:5001", "", "10.0.0.5"}}
	tests := []struct {
		host string
		want bool
	}{
		{"registry.local", true},
		{"registry.local:5000", true},
		{"REGISTRY.LOCAL:443", true},
		{"mirror.example:5000", true},
		{"mirror.example:5001", false},
		{"mirror.example", false},
		{"[::1]:5001", true},
		{"[::1]:5000", false},
		{"10.0.0.5:80", true},
		{"registry.local.evil.io", false},
		{"evil.io", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := c.AllowsInsecure(tt.host); got != tt.want {
			t.Errorf("AllowsInsecure(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
