package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// The errors below carry messages the probe makes from facts it knows (a
// status code, an address, a path from the inventory, a limit): never a
// byte of what a server answered, which could be anything, including what
// an internal service would tell.

// statusError is an HTTP answer other than 200 OK.
type statusError struct {
	code int
	path string
}

func (e *statusError) Error() string {
	if text := http.StatusText(e.code); text != "" {
		return fmt.Sprintf("HTTP %d %s for %s", e.code, text, e.path)
	}
	return fmt.Sprintf("HTTP %d for %s", e.code, e.path)
}

// notFoundError is a file that an FTP or rsync server does not have.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// protocolError is an answer the probe cannot use.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// redirectError is a redirect the probe will not follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// toOriginError is a request of a mirror that a redirect sends to the
// origin: the mirror does not serve the file itself.
type toOriginError struct{ path string }

func (e *toOriginError) Error() string {
	return fmt.Sprintf("its request for %s is redirected to the origin: it does not serve the file itself", e.path)
}

// tlsError is a TLS failure the TLS library has no type for.
type tlsError struct{}

func (e *tlsError) Error() string { return "the TLS handshake failed" }

// timeoutError is a request that ran out of time.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// classify returns the class of err (one of state.Classes, whose table
// says what each means) and a plain description of it, made by the
// probe: an error it cannot describe in its own words (a library's, which
// may quote the answer) is a protocol error with a fixed message.
func classify(err error) (class state.Class, msg string) {
	if class, msg, ok := describe(err); ok {
		return class, msg
	}
	if isTLS(err) {
		return state.ClassTLS, (&tlsError{}).Error()
	}
	return state.ClassProtocol, "an answer that is not valid in its protocol"
}

// describe classifies the errors the probe knows and describes them in its
// own words; ok is false for any other.
func describe(err error) (class state.Class, msg string, ok bool) {
	var (
		dnsErr    *net.DNSError
		noAddr    *noAddressError
		forbidden *forbiddenError
		toOrigin  *toOriginError
		status    *statusError
		notFound  *notFoundError
		proto     *protocolError
		large     *tooLargeError
		redir     *redirectError
		tmo       *timeoutError
		tlsErr    *tlsError
		unknown   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		certErr   *tls.CertificateVerificationError
		alert     tls.AlertError
		record    tls.RecordHeaderError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &tmo):
		return state.ClassTimeout, tmo.msg, true
	case errors.As(err, &noAddr):
		return state.ClassNoAddress, noAddr.Error(), true
	case errors.As(err, &dnsErr):
		// The name is the inventory's: a redirect's is never looked up
		// without its error being replaced.
		switch {
		case dnsErr.IsNotFound:
			return state.ClassDNS, fmt.Sprintf("%s does not resolve (no such host)", dnsErr.Name), true
		case dnsErr.IsTimeout:
			return state.ClassDNS, fmt.Sprintf("looking up %s timed out", dnsErr.Name), true
		}
		return state.ClassDNS, fmt.Sprintf("looking up %s failed", dnsErr.Name), true
	case errors.As(err, &forbidden):
		return state.ClassForbiddenAddress, forbidden.Error(), true
	case errors.As(err, &toOrigin):
		return state.ClassRedirectsToOrigin, toOrigin.Error(), true
	case errors.As(err, &redir):
		return state.ClassRedirect, redir.msg, true
	case errors.As(err, &status):
		return state.ClassHTTPStatus, status.Error(), true
	case errors.As(err, &notFound):
		return state.ClassNotFound, notFound.msg, true
	case errors.As(err, &large):
		return state.ClassProtocol, large.Error(), true
	case errors.As(err, &proto):
		return state.ClassProtocol, proto.msg, true
	case errors.As(err, &unknown):
		return state.ClassTLS, "the certificate is not signed by a trusted CA", true
	case errors.As(err, &hostErr):
		return state.ClassTLS, "the certificate is not valid for the host name asked for", true
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			return state.ClassTLS, "the certificate has expired or is not valid yet", true
		}
		return state.ClassTLS, "the certificate is not valid for a server", true
	case errors.As(err, &certErr):
		return state.ClassTLS, "the certificate could not be verified", true
	case errors.As(err, &alert):
		return state.ClassTLS, fmt.Sprintf("the server ended the TLS handshake (alert %d)", uint8(alert)), true
	case errors.As(err, &record):
		return state.ClassTLS, "the server does not speak TLS there", true
	case errors.As(err, &tlsErr):
		return state.ClassTLS, tlsErr.Error(), true
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return state.ClassTimeout, "no answer in time", true
	case errors.Is(err, syscall.ECONNREFUSED):
		return state.ClassRefused, "connection refused", true
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return state.ClassUnreachable, "no route to the address", true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return state.ClassReset, "connection reset by the server", true
	}
	return "", "", false
}

// isTLS reports whether err is one of the TLS library's untyped errors.
func isTLS(err error) bool {
	return strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:")
}

// retryable reports whether err may go away if the request is repeated at
// once: resets and server errors. Timeouts are not retried (a hanging
// mirror costs one timeout), nor are refusals, DNS, TLS or client errors.
func retryable(err error) bool {
	class, _ := classify(err)
	switch class {
	case state.ClassReset:
		return true
	case state.ClassHTTPStatus:
		var s *statusError
		return errors.As(err, &s) && s.code >= 500
	}
	return false
}

// Errors the rsync program reports, as the system's.
var (
	errConnRefused error = syscall.ECONNREFUSED
	errUnreachable error = syscall.EHOSTUNREACH
	errConnReset   error = syscall.ECONNRESET
)
