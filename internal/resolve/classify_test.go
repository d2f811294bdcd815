package resolve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/image"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pullguard/pullguard/internal/addressguard"
	"github.com/pullguard/pullguard/internal/cache"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	diag := func(status int, code transport.ErrorCode, msg string) error {
		return &transport.Error{StatusCode: status, Errors: []transport.Diagnostic{{Code: code, Message: msg}}}
	}
	var syntaxErr *json.SyntaxError
	if err := json.Unmarshal([]byte("<html>"), &struct{}{}); !errors.As(err, &syntaxErr) {
		t.Fatalf("json.Unmarshal gave %T, want *json.SyntaxError", err)
	}
	tests := []struct {
		name   string
		err    error
		class  image.Class
		status int
		reason string // substring
	}{
		{"manifest unknown", diag(404, transport.ManifestUnknownErrorCode, "manifest unknown"), image.NotFound, 404, `registry answered 404 MANIFEST_UNKNOWN "manifest unknown"`},
		{"name unknown", diag(404, transport.NameUnknownErrorCode, "repository name not known"), image.NotFound, 404, "NAME_UNKNOWN"},
		{"404 from HEAD", &transport.Error{StatusCode: 404}, image.NotFound, 404, "registry answered 404 Not Found"},
		{"401", diag(401, transport.UnauthorizedErrorCode, "authentication required"), image.Unauthorized, 401, "UNAUTHORIZED"},
		{"403 denied", diag(403, transport.DeniedErrorCode, "requested access to the resource is denied"), image.Forbidden, 403, "DENIED"},
		{"429", diag(429, transport.TooManyRequestsErrorCode, "rate limit"), image.RateLimited, 429, "TOOMANYREQUESTS"},
		{"500", &transport.Error{StatusCode: 500}, image.Unreachable, 500, "registry answered 500"},
		{"503 wrapped", fmt.Errorf("get: %w", &transport.Error{StatusCode: 503}), image.Unreachable, 503, "503"},
		{"400 with denied code", diag(400, transport.DeniedErrorCode, "no"), image.Forbidden, 400, "DENIED"},
		{"400 with name unknown", diag(400, transport.NameUnknownErrorCode, "no"), image.NotFound, 400, "NAME_UNKNOWN"},
		{"deadline", fmt.Errorf("head: %w", context.DeadlineExceeded), image.Unreachable, 0, "before the deadline"},
		{"flight timeout", &cache.TimeoutError{Key: "k"}, image.Unreachable, 0, "before the deadline"},
		{"canceled", context.Canceled, image.Unreachable, 0, "canceled"},
		{"dns", &url.Error{Op: "Get", URL: "https://nope.invalid/v2/", Err: &net.OpError{Op: "dial", Err: &net.DNSError{Name: "nope.invalid", Err: "no such host", IsNotFound: true}}}, image.Unreachable, 0, `registry host "nope.invalid" does not exist`},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, image.Unreachable, 0, "cannot connect to registry: connect: connection refused"},
		{"verification error without cause", &tls.CertificateVerificationError{}, image.Unreachable, 0, "cannot be verified"},
		{"plain http server", &url.Error{Op: "Get", URL: "https://h/v2/", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, image.Unreachable, 0, "does not speak TLS"},
		{"unknown CA", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, image.Unreachable, 0, "unknown authority"},
		{"bad body", &badResponseError{what: "index manifest does not parse", err: syntaxErr}, image.Unreachable, 0, "cannot read: index manifest does not parse"},
		{"json body", fmt.Errorf("decode: %w", syntaxErr), image.Unreachable, 0, "not valid JSON"},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), image.Unreachable, 0, "closed the connection"},
		{"blocked", &url.Error{Op: "Get", URL: "https://meta/v2/", Err: &net.OpError{Op: "dial", Err: &addressguard.BlockedError{Host: "meta", Addr: netip.MustParseAddr("169.254.169.254"), Reason: "metadata"}}}, image.AddressBlocked, 0, `address 169.254.169.254 of "meta" is blocked`},
		{"plain http refused alone", &url.Error{Op: "Get", URL: "http://h/v2/", Err: &addressguard.PlainHTTPError{Host: "h"}}, image.Unreachable, 0, "listed as insecure"},
		{"plain http registry, http refused", errors.Join(
			&url.Error{Op: "Get", URL: "https://h/v2/", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}},
			&url.Error{Op: "Get", URL: "http://h/v2/", Err: &addressguard.PlainHTTPError{Host: "h"}}), image.Unreachable, 0, "listed as insecure"},
		{"https refused, http refused", errors.Join(
			&url.Error{Op: "Get", URL: "https://h/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}},
			&url.Error{Op: "Get", URL: "http://h/v2/", Err: &addressguard.PlainHTTPError{Host: "h"}}), image.Unreachable, 0, "connection refused"},
		{"private CA, http refused: the certificate, not plain HTTP", errors.Join(
			&url.Error{Op: "Get", URL: "https://h/v2/", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}},
			&url.Error{Op: "Get", URL: "http://h/v2/", Err: &addressguard.PlainHTTPError{Host: "h"}}), image.Unreachable, 0, "certificate signed by an unknown authority"},
		{"token in url", &url.Error{Op: "Get", URL: "https://u:hunter2@h/token?access_token=s3cret", Err: errors.New("boom")}, image.Unreachable, 0, "REDACTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := Classify("img", "reg", tt.err)
			if e.Class != tt.class || e.StatusCode != tt.status || !strings.Contains(e.Reason, tt.reason) {
				t.Errorf("Classify = {%s %d %q}, want {%s %d ...%q...}", e.Class, e.StatusCode, e.Reason, tt.class, tt.status, tt.reason)
			}
			if e.Image != "img" || e.Registry != "reg" || !errors.Is(e, tt.err) {
				t.Errorf("Classify lost image, registry or the wrapped error: %+v", e)
			}
			for _, secret := range []string{"hunter2", "s3cret"} {
				if strings.Contains(e.Reason, secret) || strings.Contains(e.Error(), secret) || strings.Contains(e.Err.Error(), secret) {
					t.Errorf("credential %q leaked: %q / %q", secret, e.Reason, e.Err)
				}
			}
		})
	}
}

func TestClassifyKeepsError(t *testing.T) {
	t.Parallel()
	if Classify("i", "r", nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	in := &image.Error{Class: image.NotFound, Image: "x"}
	if got := Classify("i", "r", fmt.Errorf("w: %w", in)); got != in {
		t.Errorf("Classify of a wrapped *image.Error = %+v, want it unchanged", got)
	}
}

func TestRedactText(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"GET https://user:pw@reg/v2/?token=abc: 401", "GET https://reg/v2/?REDACTED: 401"},
		{`Authorization: Bearer eyJabc`, "Authorization: REDACTED REDACTED"},
		{"nothing to hide", "nothing to hide"},
		{"(http://h/p?x=1)", "(http://h/p?REDACTED)"},
	}
	for _, tt := range tests {
		if got := redactText(tt.in); got != tt.want {
			t.Errorf("redactText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := answered(&transport.Error{StatusCode: http.StatusTeapot}); got != "registry answered 418 I'm a teapot" {
		t.Errorf("answered = %q", got)
	}
}
