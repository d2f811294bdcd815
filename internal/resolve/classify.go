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
	"net/url"
	"slices"
	"strings"
	"syscall"

	"github.com/pullguard/pullguard/internal/image"
	"github.com/pullguard/pullguard/internal/text"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// maxReasonMessage bounds how much of a registry's own message is copied
// into a Reason (they end up in one-line warnings).
const maxReasonMessage = 200

// badResponseError marks an answer the registry gave that pullguard cannot
// use (a body that is not a manifest, a media type that is not an image), so
// Classify can tell it apart from a network failure without reading text.
type badResponseError struct {
	what string
	err  error
}

func (e *badResponseError) Error() string {
	if e.err == nil {
		return e.what
	}
	return e.what + ": " + e.err.Error()
}

func (e *badResponseError) Unwrap() error { return e.err }

// Classify turns what asking registry about image produced into an *image.Error
// with a image.Class, by the error's type (never its text). An *image.Error is returned
// as is; nil stays nil. Reasons never carry credentials: URLs copied from
// errors lose their user info and query.
func Classify(original, registry string, err error) *image.Error {
	if err == nil {
		return nil
	}
	var re *image.Error
	if errors.As(err, &re) {
		return re
	}
	e := &image.Error{Image: original, Registry: registry, Err: redactErr(err)}
	e.Class, e.StatusCode, e.Reason = classify(err)
	var unknownCA x509.UnknownAuthorityError
	if e.Class == image.Unreachable && errors.As(err, &unknownCA) {
		// Marked by type, so the fix can name the CA flags.
		e.Err = fmt.Errorf("%w: %w", image.ErrUnknownAuthority, e.Err)
	}
	return e
}

// classify returns the class, HTTP status (0 without an answer) and reason.
// The order matters: a registry's answer is more specific than the
// transport failure that may wrap it, a deadline more telling than the
// network error it caused.
func classify(err error) (image.Class, int, string) {
	if c, reason, ok := classifyBlocked(err); ok {
		return c, 0, reason
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return classifyStatus(te), te.StatusCode, answered(te)
	}
	var big *tooLargeError
	if errors.As(err, &big) {
		if big.manifest() {
			return image.NotFound, 0, fmt.Sprintf("%s; containerd refuses manifests over %d bytes as not found, so the pull fails", big.Error(), MaxManifestBytes)
		}
		return image.Unreachable, 0, big.Error()
	}
	var stalled *registryStalledError
	if errors.As(err, &stalled) {
		return image.Unreachable, 0, stalled.Error()
	}
	var loop *redirectLoopError
	if errors.As(err, &loop) {
		return image.Unreachable, 0, "registry sent a " + loop.Error()
	}
	var bad *badResponseError
	if errors.As(err, &bad) {
		return image.Unreachable, 0, "registry sent an answer pullguard cannot read: " + redactText(bad.Error())
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return image.Unreachable, 0, "registry did not answer before the deadline"
	case errors.Is(err, context.Canceled):
		return image.Unreachable, 0, "lookup was canceled before the registry answered"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return image.Unreachable, 0, fmt.Sprintf("registry host %q does not exist (DNS: no such host)", dnsErr.Name)
		}
		return image.Unreachable, 0, fmt.Sprintf("cannot look up registry host %q: %s", dnsErr.Name, dnsErr.Err)
	}
	if reason, ok := classifyTLS(err); ok {
		return image.Unreachable, 0, reason
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		what := "connect to"
		if opErr.Op != "dial" {
			what = opErr.Op + " from"
		}
		return image.Unreachable, 0, fmt.Sprintf("cannot %s registry: %s", what, redactText(fmt.Sprint(opErr.Err)))
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return image.Unreachable, 0, "registry closed the connection before answering"
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &syntaxErr) || errors.As(err, &typeErr) {
		return image.Unreachable, 0, "registry sent a body that is not valid JSON: " + redactText(err.Error())
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return image.Unreachable, 0, "registry did not answer in time"
	}
	return image.Unreachable, 0, redactText(err.Error())
}

// classifyStatus maps a registry answer to a class: the status first, since
// registries agree on it more than on error codes (Docker Hub answers 401
// UNAUTHORIZED for a repository that does not exist, ECR 403 DENIED), then
// the OCI codes for answers with an unusual status.
func classifyStatus(te *transport.Error) image.Class {
	switch s := te.StatusCode; {
	case s == http.StatusNotFound:
		return image.NotFound
	case s == http.StatusUnauthorized:
		return image.Unauthorized
	case s == http.StatusForbidden:
		return image.Forbidden
	case s == http.StatusTooManyRequests:
		return image.RateLimited
	case s >= 500:
		return image.Unreachable
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return image.NotFound
		case transport.UnauthorizedErrorCode:
			return image.Unauthorized
		case transport.DeniedErrorCode:
			return image.Forbidden
		case transport.TooManyRequestsErrorCode:
			return image.RateLimited
		}
	}
	return image.Unreachable
}

// answered renders a registry answer: `registry answered 404
// MANIFEST_UNKNOWN "manifest unknown"`. A body that is not an OCI error
// (HTML from a proxy, say) is not copied; the status says enough.
func answered(te *transport.Error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "registry answered %d", te.StatusCode)
	if len(te.Errors) == 0 {
		if t := http.StatusText(te.StatusCode); t != "" {
			b.WriteString(" " + t)
		}
		return b.String()
	}
	for i, d := range te.Errors {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString(" " + sanitizeCode(string(d.Code)))
		if d.Message != "" {
			fmt.Fprintf(&b, " %q", text.Truncate(redactText(d.Message), maxReasonMessage))
		}
	}
	return b.String()
}

// sanitizeCode keeps a code printable and short: it comes from the server.
func sanitizeCode(c string) string {
	c = strings.Map(func(r rune) rune {
		if r < '!' || r > '~' {
			return -1
		}
		return r
	}, c)
	return text.Truncate(c, 40)
}

// classifyTLS recognises the TLS failures worth their own words.
func classifyTLS(err error) (string, bool) {
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) {
		return "registry does not speak TLS (a plain HTTP server?); list it as an insecure registry if that is intended", true
	}
	return classifyCertificate(err)
}

// classifyCertificate recognises a registry certificate that did not verify.
func classifyCertificate(err error) (string, bool) {
	var verr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknownCA):
		return "registry TLS certificate signed by an unknown authority (x509: certificate signed by unknown authority)", true
	case errors.As(err, &hostErr):
		return "registry certificate is not valid for this host: " + hostErr.Error(), true
	case errors.As(err, &invalidErr):
		return "registry certificate is invalid: " + invalidErr.Error(), true
	case errors.As(err, &verr):
		return "registry certificate cannot be verified: " + redactText(fmt.Sprint(verr.Err)), true
	}
	return "", false
}

// redactErr strips credentials from the URLs *url.Error carries, so even
// image.Error.Err printed with %v shows none.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = redactURL(ue.URL)
	}
	return err
}

// redactText removes credentials from an error text: user info and query of
// every URL in it (tokens travel as ?token= or in user info) and the value of
// any Authorization-style header.
func redactText(s string) string {
	orig := strings.Fields(s)
	fields := slices.Clone(orig)
	changed := false
	for i, f := range orig {
		trimmed := strings.Trim(f, `"'(),;:<>`)
		if strings.Contains(trimmed, "://") {
			if r := redactURL(trimmed); r != trimmed {
				fields[i] = strings.Replace(f, trimmed, r, 1)
				changed = true
			}
		}
		if i > 0 && isCredentialScheme(orig[i-1]) {
			fields[i] = "REDACTED"
			changed = true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(fields, " ")
}

func isCredentialScheme(w string) bool {
	switch strings.ToLower(strings.Trim(w, `"':`)) {
	case "bearer", "basic", "authorization", "token", "password":
		return true
	}
	return false
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: drop everything after the host rather than risk it.
		if i := strings.Index(raw, "://"); i >= 0 {
			return raw[:i+3] + "REDACTED"
		}
		return "REDACTED"
	}
	if u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		return raw
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment = ""
	return u.String()
}
