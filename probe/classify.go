package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// The error classes an endpoint can fail with (state.json "class").
const (
	ClassDNS         = "dns"         // the host name does not resolve
	ClassNoAddress   = "no-address"  // it resolves, but not in this family
	ClassRefused     = "refused"     // connection refused
	ClassUnreachable = "unreachable" // no route to the address
	ClassTimeout     = "timeout"     // a request took longer than the timeout
	ClassReset       = "reset"       // the connection was reset or cut
	ClassTLS         = "tls"         // handshake or certificate failure
	ClassHTTPStatus  = "http-status" // an HTTP status other than 200
	ClassNotFound    = "not-found"   // ftp or rsync: the file is not there
	ClassRedirect    = "redirect"    // a redirect loop or a forbidden target
	ClassProtocol    = "protocol"    // a malformed answer: bad stamp, too large, ftp/rsync errors
	ClassStale       = "stale"       // up, but its stamp is more than max_lag behind the origin
)

// statusError is an HTTP answer other than 200 OK.
type statusError struct {
	code   int
	status string
}

func (e *statusError) Error() string { return "HTTP " + e.status }

// notFoundError is a file that an FTP or rsync server does not have.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// protocolError is an answer the probe cannot use.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

// redirectError is a redirect the probe will not follow.
type redirectError struct{ msg string }

func (e *redirectError) Error() string { return e.msg }

// timeoutError is a request that ran out of time.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// classify returns the class of err and a plain description.
func classify(err error) (class, msg string) {
	var (
		dnsErr   *net.DNSError
		noAddr   *noAddressError
		status   *statusError
		notFound *notFoundError
		proto    *protocolError
		redir    *redirectError
		blocked  *blockedError
		tmo      *timeoutError
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		alert    tls.AlertError
		record   tls.RecordHeaderError
		netErr   net.Error
	)
	msg = describe(err)
	switch {
	case errors.As(err, &tmo):
		return ClassTimeout, tmo.msg
	case errors.As(err, &noAddr):
		return ClassNoAddress, noAddr.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return ClassDNS, fmt.Sprintf("%s does not resolve (no such host)", dnsErr.Name)
		}
		if dnsErr.IsTimeout {
			return ClassDNS, fmt.Sprintf("looking up %s timed out", dnsErr.Name)
		}
		return ClassDNS, fmt.Sprintf("looking up %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &blocked):
		return ClassRedirect, blocked.Error()
	case errors.As(err, &redir):
		return ClassRedirect, redir.msg
	case errors.As(err, &status):
		return ClassHTTPStatus, msg
	case errors.As(err, &notFound):
		return ClassNotFound, notFound.msg
	case errors.As(err, &proto):
		return ClassProtocol, proto.msg
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid),
		errors.As(err, &alert), errors.As(err, &record):
		return ClassTLS, msg
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout, msg
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused, "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return ClassUnreachable, msg
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, syscall.EPIPE):
		return ClassReset, "connection reset by the server"
	}
	if strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:") {
		return ClassTLS, msg
	}
	return ClassProtocol, msg
}

// describe strips Go's wrapping ("Get \"http://...\": dial tcp ...:") down
// to what went wrong.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		if se, ok := oe.Err.(*net.AddrError); ok {
			return se.Error()
		}
		inner := oe.Err.Error()
		if oe.Addr != nil {
			return fmt.Sprintf("%s %s: %s", oe.Op, oe.Addr, inner)
		}
		return inner
	}
	return err.Error()
}

// retryable reports whether err may go away if the request is repeated at
// once: resets and server errors. Timeouts are not retried (a hanging
// mirror costs one timeout), nor are refusals, DNS, TLS or client errors.
func retryable(err error) bool {
	class, _ := classify(err)
	switch class {
	case ClassReset:
		return true
	case ClassHTTPStatus:
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
