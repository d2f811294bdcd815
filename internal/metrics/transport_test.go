package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/registrytest"
)

// answer is a RoundTripper that answers every request with its status, or
// fails with its error, without a network.
type answer struct {
	status int
	err    error
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	if a.err != nil {
		return nil, a.err
	}
	return &http.Response{StatusCode: a.status, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

func TestTransportOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		next http.RoundTripper
		want string
	}{
		{answer{status: 200}, "2xx"},
		{answer{status: 307}, "3xx"},
		{answer{status: 401}, "401"},
		{answer{status: 403}, "403"},
		{answer{status: 404}, "404"},
		{answer{status: 429}, "429"},
		{answer{status: 400}, "4xx"},
		{answer{status: 503}, "5xx"},
		{answer{status: 999}, OutcomeError},
		{answer{err: errors.New("connection refused")}, OutcomeError},
		{answer{err: context.DeadlineExceeded}, OutcomeTimeout},
		{answer{err: &addressguard.PlainHTTPError{Host: "r.example"}}, OutcomeBlocked},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+strconv.Itoa(tt.next.(answer).status), func(t *testing.T) {
			t.Parallel()
			m, reg := newMetrics(t)
			client := &http.Client{Transport: m.Transport(tt.next)}
			resp, err := client.Get("https://Registry.Example:5000/v2/")
			if err == nil {
				resp.Body.Close()
			}
			labels := map[string]string{"host": "registry.example:5000", "outcome": tt.want}
			if got := histogramCount(t, reg, "pullguard_registry_request_duration_seconds", labels); got != 1 {
				t.Errorf("registry_request_duration_seconds%v count = %d, want 1", labels, got)
			}
		})
	}
}

// TestTransportSeesGuardRefusals wraps the real address guard: a loopback
// registry it refuses shows as blocked, one it allows as its status (404,
// for a manifest it does not have).
func TestTransportSeesGuardRefusals(t *testing.T) {
	t.Parallel()
	registry := registrytest.New(t)
	host := registry.Host
	missing := registry.Server.URL + "/v2/team/missing/manifests/v1"
	tests := []struct {
		name  string
		guard addressguard.Config
		want  string
	}{
		{"loopback refused", addressguard.Config{InsecureRegistries: []string{host}}, OutcomeBlocked},
		{"loopback allowed", addressguard.Config{AllowLoopback: true, InsecureRegistries: []string{host}}, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, reg := newMetrics(t)
			client := &http.Client{Transport: m.Transport(tt.guard.Transport())}
			defer client.CloseIdleConnections()
			resp, err := client.Get(missing)
			if err == nil {
				resp.Body.Close()
			}
			labels := map[string]string{"host": host, "outcome": tt.want}
			if got := histogramCount(t, reg, "pullguard_registry_request_duration_seconds", labels); got != 1 {
				t.Errorf("count%v = %d, want 1 (request error: %v)", labels, got, err)
			}
		})
	}
}

func TestTransportHostsAreBounded(t *testing.T) {
	t.Parallel()
	m, reg := newMetrics(t)
	client := &http.Client{Transport: m.Transport(answer{status: 200})}
	for i := range MaxHosts + 10 {
		resp, err := client.Get("https://r" + strconv.Itoa(i) + ".example/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	n, err := testutil.GatherAndCount(reg, "pullguard_registry_request_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if n != MaxHosts+1 {
		t.Errorf("%d host series, want %d + other", n, MaxHosts)
	}
	other := map[string]string{"host": Other, "outcome": "2xx"}
	if got := histogramCount(t, reg, "pullguard_registry_request_duration_seconds", other); got != 10 {
		t.Errorf("requests counted as other = %d, want 10", got)
	}
}
