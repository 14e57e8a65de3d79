// Package remote fetches an input that lives at an https URL (gen's
// api/state.json, an operator's mirrors.toml) and hands it over only when
// a detached signature (package signature) by a trusted key vouches for
// its exact bytes.
//
// A Source is polled: each Fetch is one conditional GET (If-None-Match,
// If-Modified-Since with what the last accepted body came with) and, when
// the body changed, one GET of its signature at the same URL with ".sig"
// added to the path. Whatever the server does, a Fetch returns within
// Config.Timeout, reads at most Config.MaxSize bytes, follows redirects
// only to https and at most 5, and fails with an *Error whose Reason says
// what went wrong, for metrics and logs. A failed or refused fetch changes
// nothing: the caller keeps what it had.
package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/signature"
)

// Defaults of Config.
const (
	// DefaultTimeout bounds one Fetch, both requests, from the first
	// dial to the last byte: long enough for a 20 MiB state.json over a
	// slow link, short enough that a hanging server is noticed in one
	// poll.
	DefaultTimeout = 30 * time.Second
	// ConnectTimeout bounds the TCP connect and the TLS handshake, each.
	ConnectTimeout = 5 * time.Second
	// MaxRedirects is how many redirects a Fetch follows, all to https.
	MaxRedirects = 5
	// maxSignature is the most read of a signature file: a signature is
	// 64 bytes; a bit more lets the error say what was there instead.
	maxSignature = 1024
)

// Config says whom to trust and how much to spend.
type Config struct {
	// Keys are the public keys a body may be signed by (several while a
	// key is replaced). At least one.
	Keys []ed25519.PublicKey
	// Roots are the CAs the server's certificate must chain to; nil
	// means the system's.
	Roots *x509.CertPool
	// Timeout is the hard deadline of one Fetch; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxSize is the most bytes of a body read (fileio's limit for the
	// kind of file); more is an error.
	MaxSize int64
}

// Reason classifies a failed Fetch, for a metric label.
type Reason string

// The reasons a Fetch fails.
const (
	Timeout    Reason = "timeout"     // the deadline passed: a hanging or slow server
	Network    Reason = "network"     // no connection: DNS, refused, reset
	TLS        Reason = "tls"         // the certificate or handshake failed
	HTTPStatus Reason = "http_status" // an answer other than 200 or 304
	Redirect   Reason = "redirect"    // a redirect away from https, or too many
	TooLarge   Reason = "too_large"   // a body over Config.MaxSize
	Truncated  Reason = "truncated"   // the body ended before its length
	Signature  Reason = "signature"   // no signature, or one no trusted key made over these bytes
)

// Reasons lists every Reason, for metrics that show each from the start.
var Reasons = []Reason{Timeout, Network, TLS, HTTPStatus, Redirect, TooLarge, Truncated, Signature}

// Error is a failed Fetch.
type Error struct {
	URL    string
	Reason Reason
	Err    error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.URL, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// Result is what a Fetch got.
type Result struct {
	// NotModified says the body is the one last accepted (304): nothing
	// else is set.
	NotModified bool
	// Body is the verified body.
	Body []byte
	// Key is the ID of the key whose signature verified Body.
	Key string
	// LastModified is the server's Last-Modified, zero without one.
	LastModified time.Time

	etag, lastModified string
}

// Source is one input at a URL. A Source is used by one goroutine at a
// time.
type Source struct {
	url, sigURL string
	cfg         Config
	client      *http.Client
	// Validators of the last accepted body, sent with the next Fetch.
	etag, lastModified string
}

var errRedirect = errors.New("redirect refused")

// New returns a Source for rawURL, which must be an absolute https URL
// without credentials in it.
func New(rawURL string, cfg Config) (*Source, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL: %v", rawURL, err)
	case u.Scheme != "https":
		return nil, fmt.Errorf("%s: only https URLs are fetched (the file may hold private mirrors' networks, and the server must prove who it is)", rawURL)
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("%s: no host in the URL; write https://host/path", rawURL)
	case u.User != nil:
		return nil, fmt.Errorf("https://%s%s: credentials in the URL would go to every log; serve the file without them", u.Host, u.EscapedPath())
	case u.Fragment != "":
		return nil, fmt.Errorf("%s: a #fragment is never sent to the server; remove it", rawURL)
	case len(cfg.Keys) == 0:
		return nil, fmt.Errorf("%s: no key to verify it with; give the public key of the signer (mirrorsteer keygen)", rawURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	sig := *u
	sig.Path += signature.Suffix
	if sig.RawPath != "" {
		sig.RawPath += signature.Suffix
	}
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.Roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    ConnectTimeout,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           2,
		IdleConnTimeout:        90 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Scheme != "https" {
				return fmt.Errorf("%w: %s redirects to %s, which is not https", errRedirect, via[len(via)-1].URL.Redacted(), req.URL.Redacted())
			}
			if len(via) > MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", errRedirect, MaxRedirects)
			}
			return nil
		},
	}
	return &Source{url: u.String(), sigURL: sig.String(), cfg: cfg, client: client}, nil
}

// URL is the source's URL.
func (s *Source) URL() string { return s.url }

// Fetch fetches the body if it changed since the last Accept and
// verifies its signature, within the deadline.
func (s *Source) Fetch(ctx context.Context) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res, err := s.fetch(ctx)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{URL: s.url, Reason: classify(err), Err: err}
		}
		if e.Reason == Timeout {
			e.Err = fmt.Errorf("no whole answer within %v: %w", s.cfg.Timeout, e.Err)
		}
		return nil, e
	}
	return res, nil
}

func (s *Source) fetch(ctx context.Context) (*Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "mirrorsteer")
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	if s.lastModified != "" {
		req.Header.Set("If-Modified-Since", s.lastModified)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && (s.etag != "" || s.lastModified != ""):
		return &Result{NotModified: true}, nil
	case resp.StatusCode != http.StatusOK:
		return nil, &Error{URL: s.url, Reason: HTTPStatus, Err: fmt.Errorf("HTTP status %s, want 200 OK", status(resp))}
	case resp.ContentLength > s.cfg.MaxSize:
		return nil, &Error{URL: s.url, Reason: TooLarge, Err: &fileio.TooLargeError{Path: s.url, Limit: s.cfg.MaxSize}}
	}
	body, err := fileio.ReadAll(resp.Body, s.url, s.cfg.MaxSize)
	if err != nil {
		return nil, err
	}
	res := &Result{Body: body, etag: resp.Header.Get("ETag"), lastModified: resp.Header.Get("Last-Modified")}
	if t, err := http.ParseTime(res.lastModified); err == nil {
		res.LastModified = t
	} else {
		res.lastModified = "" // not a date: do not send it back
	}
	sig, err := s.signature(ctx)
	if err != nil {
		return nil, err
	}
	key, err := signature.Verify(s.cfg.Keys, body, sig)
	if err != nil {
		return nil, &Error{URL: s.url, Reason: Signature, Err: fmt.Errorf("%v (%d bytes, signature %s); changed, cut short, or signed by another key than --verify-key", err, len(body), s.sigURL)}
	}
	res.Key = signature.ID(key)
	return res, nil
}

func (s *Source) signature(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.sigURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "mirrorsteer")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, &Error{URL: s.url, Reason: Signature, Err: fmt.Errorf("no signature at %s (HTTP %s); publish one beside the file (gen --sign-key, mirrorsteer sign)", s.sigURL, status(resp))}
	default:
		return nil, &Error{URL: s.url, Reason: HTTPStatus, Err: fmt.Errorf("signature %s: HTTP status %s, want 200 OK", s.sigURL, status(resp))}
	}
	return fileio.ReadAll(resp.Body, s.sigURL, maxSignature)
}

// Accept remembers the validators r came with, so that the next Fetch
// asks only for a change. Call it once the body has been put to use: a
// body refused later (unreadable, older) is then fetched again, and
// refused again, at each poll, so that the refusal stays visible.
func (s *Source) Accept(r *Result) {
	if r != nil && !r.NotModified {
		s.etag, s.lastModified = r.etag, r.lastModified
	}
}

func status(resp *http.Response) string {
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
}

// classify names the reason of a transport or read error.
func classify(err error) Reason {
	var (
		tooLarge *fileio.TooLargeError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
		recErr   tls.RecordHeaderError
		alert    tls.AlertError
	)
	switch {
	case errors.Is(err, errRedirect):
		return Redirect
	case errors.As(err, &tooLarge):
		return TooLarge
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return Timeout
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &hostErr), errors.As(err, &invalid), errors.As(err, &recErr), errors.As(err, &alert):
		return TLS
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Truncated
	}
	return Network
}
