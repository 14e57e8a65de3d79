package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// fetcher reads files under one endpoint's base URL.
type fetcher interface {
	// get returns the file at path (relative to the base URL), at most
	// limit bytes of it. ctx bounds this one request.
	get(ctx context.Context, path string, limit int64) ([]byte, error)
	close()
}

// endpoint is what a fetcher needs to know about one check.
type endpoint struct {
	base   *url.URL
	family state.Family // "" for the origin: any family
	addrs  []netip.Addr
	cfg    *Config
}

func tooLarge(path string, limit int64) error {
	return &protocolError{fmt.Sprintf("%s is larger than %d bytes (the maximum read); a stamp or metadata file is never that large", path, limit)}
}

// ---- HTTP and HTTPS ----

type httpFetcher struct {
	ep     endpoint
	dialer *dialer
	client *http.Client
	tr     *http.Transport

	mu         sync.Mutex
	certExpiry time.Time
}

func newHTTPFetcher(ep endpoint) *httpFetcher {
	d := newDialer(ep.base.Hostname(), ep.addrs, ep.family, ep.cfg.Resolver)
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would hide the family and address checked
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: ep.cfg.RootCAs, Time: ep.cfg.Now, MinVersion: tls.VersionTLS12},
		DisableCompression:     true, // hash the bytes as served
		MaxIdleConnsPerHost:    1,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        ep.cfg.Timeout,
	}
	c := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects {
			return &redirectError{fmt.Sprintf("more than %d redirects (a redirect loop?), last to %s", maxRedirects, req.URL.Redacted())}
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return &redirectError{fmt.Sprintf("redirect to %s: only http and https are followed", req.URL.Redacted())}
		}
		return nil
	}}
	return &httpFetcher{ep: ep, dialer: d, client: c, tr: tr}
}

// maxRedirects is how many redirects a request follows.
const maxRedirects = 5

func (f *httpFetcher) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	u := f.ep.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", f.ep.cfg.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		f.mu.Lock()
		f.certExpiry = resp.TLS.PeerCertificates[0].NotAfter
		f.mu.Unlock()
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{code: resp.StatusCode, status: fmt.Sprintf("%s for %s", resp.Status, path)}
	}
	if resp.ContentLength > limit {
		return nil, tooLarge(path, limit)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit)
	}
	return b, nil
}

func (f *httpFetcher) expiry() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.certExpiry
}

func (f *httpFetcher) close() {
	f.tr.CloseIdleConnections()
	f.dialer.closeAll()
}

// ---- FTP (github.com/jlaffaye/ftp) ----

type ftpFetcher struct {
	ep     endpoint
	dialer *dialer
	conn   *ftp.ServerConn
	ctx    context.Context // the current request's, for the dial function
}

func newFTPFetcher(ep endpoint) *ftpFetcher {
	return &ftpFetcher{ep: ep, dialer: newDialer(ep.base.Hostname(), ep.addrs, ep.family, ep.cfg.Resolver)}
}

func (f *ftpFetcher) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	// The library's calls do not take a context: a watcher closes the
	// connections when ctx ends, which makes them return.
	stop := context.AfterFunc(ctx, f.dialer.closeAll)
	defer stop()
	b, err := f.getLocked(ctx, path, limit)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return b, err
}

func (f *ftpFetcher) getLocked(ctx context.Context, path string, limit int64) ([]byte, error) {
	f.ctx = ctx
	if f.conn == nil {
		port := f.ep.base.Port()
		if port == "" {
			port = "21"
		}
		c, err := ftp.Dial(net.JoinHostPort(f.ep.base.Hostname(), port),
			ftp.DialWithContext(ctx),
			ftp.DialWithDialFunc(func(network, address string) (net.Conn, error) {
				return f.dialer.DialContext(f.ctx, network, address)
			}))
		if err != nil {
			return nil, ftpError(err, "connecting")
		}
		if err := c.Login("anonymous", "mirrorsteer@"); err != nil {
			c.Quit()
			return nil, ftpError(err, "anonymous login")
		}
		f.conn = c
	}
	full := strings.TrimSuffix(f.ep.base.Path, "/") + "/" + path
	r, err := f.conn.Retr(full)
	if err != nil {
		return nil, ftpError(err, "RETR "+full)
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit)
	}
	return b, nil
}

// ftpError turns the library's errors into the probe's: a 550 answer is a
// missing file, other answers are protocol errors, network errors stay.
func ftpError(err error, what string) error {
	msg := err.Error()
	if len(msg) >= 3 && msg[0] >= '1' && msg[0] <= '5' && msg[1] >= '0' && msg[1] <= '9' {
		if strings.HasPrefix(msg, "550") {
			return &notFoundError{fmt.Sprintf("ftp %s: %s", what, msg)}
		}
		return &protocolError{fmt.Sprintf("ftp %s: %s", what, msg)}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) {
		return err
	}
	return &protocolError{fmt.Sprintf("ftp %s: %s", what, msg)}
}

func (f *ftpFetcher) close() {
	if f.conn != nil {
		done := make(chan struct{})
		go func() { f.conn.Quit(); close(done) }()
		select {
		case <-done:
		case <-time.After(100 * time.Millisecond):
		}
	}
	f.dialer.closeAll()
}

// ---- rsync (the rsync program) ----

type rsyncFetcher struct {
	ep      endpoint
	addr    netip.Addr // the address checked: rsync is pointed at it
	tmp     string
	listed  bool
	fetched bool
}

// prefetcher is a fetcher that gets many files faster at once.
type prefetcher interface {
	prefetch(ctx context.Context, paths []string, limit int64) error
}

func newRsyncFetcher(ep endpoint) (*rsyncFetcher, error) {
	tmp, err := os.MkdirTemp("", "mirrorsteer-rsync-")
	if err != nil {
		return nil, err
	}
	return &rsyncFetcher{ep: ep, addr: ep.addrs[0], tmp: tmp}, nil
}

// url is the rsync URL of path at the checked address.
func (f *rsyncFetcher) url(path string) string {
	port := f.ep.base.Port()
	host := f.addr.String()
	if f.addr.Is6() {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return "rsync://" + host + strings.TrimSuffix(f.ep.base.Path, "/") + "/" + path
}

func (f *rsyncFetcher) run(ctx context.Context, args ...string) ([]byte, error) {
	secs := int(f.ep.cfg.Timeout.Seconds() + 0.999)
	fam := "-4"
	if f.addr.Is6() {
		fam = "-6"
	}
	all := append([]string{"--no-motd", fam, fmt.Sprintf("--timeout=%d", secs), fmt.Sprintf("--contimeout=%d", secs)}, args...)
	cmd := exec.CommandContext(ctx, f.ep.cfg.Rsync, all...)
	cmd.WaitDelay = 100 * time.Millisecond
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &limitedBuffer{b: &stdout, n: 1 << 20}
	cmd.Stderr = &limitedBuffer{b: &stderr, n: 64 << 10}
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, rsyncError(err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// prefetch copies paths (relative to the base URL) into a temporary tree
// with one rsync run, after an rsync --list-only of the module shows it
// answers. Files that are missing or larger than limit are left out; get
// reports them.
func (f *rsyncFetcher) prefetch(ctx context.Context, paths []string, limit int64) error {
	if !f.listed {
		if _, err := f.run(ctx, "--list-only", f.url("")); err != nil {
			return err
		}
		f.listed = true
	}
	list := filepath.Join(f.tmp, "files-from")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	tree := filepath.Join(f.tmp, "tree")
	os.RemoveAll(tree)
	_, err := f.run(ctx, "--copy-links", "--files-from="+list, fmt.Sprintf("--max-size=%d", limit), f.url(""), tree+"/")
	var nf *notFoundError
	if err != nil && !errors.As(err, &nf) {
		return err
	}
	f.fetched = true
	return nil
}

func (f *rsyncFetcher) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	if !f.fetched {
		if err := f.prefetch(ctx, []string{path}, limit); err != nil {
			return nil, err
		}
	}
	full := filepath.Join(f.tmp, "tree", filepath.FromSlash(path))
	st, err := os.Stat(full)
	switch {
	case err != nil:
		return nil, &notFoundError{fmt.Sprintf("rsync: %s is not there (or larger than %d bytes)", path, limit)}
	case !st.Mode().IsRegular():
		return nil, &protocolError{fmt.Sprintf("%s is not a regular file", path)}
	case st.Size() > limit:
		return nil, tooLarge(path, limit)
	}
	return os.ReadFile(full)
}

func (f *rsyncFetcher) close() { os.RemoveAll(f.tmp) }

// rsyncError reads rsync's exit status and message.
func rsyncError(err error, stderr string) error {
	msg := ""
	for l := range strings.SplitSeq(stderr, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "rsync error:") {
			msg = l
			break
		}
	}
	if msg == "" {
		msg = strings.TrimSpace(stderr)
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		return &protocolError{fmt.Sprintf("running rsync: %v", err)}
	}
	switch {
	case strings.Contains(stderr, "Connection refused"):
		return fmt.Errorf("rsync: %w", errConnRefused)
	case strings.Contains(stderr, "No route to host"), strings.Contains(stderr, "Network is unreachable"):
		return fmt.Errorf("rsync: %w", errUnreachable)
	case code == 30 || code == 35 || strings.Contains(stderr, "timed out") || strings.Contains(stderr, "timeout"):
		return &timeoutError{"rsync: " + msg}
	case code == 23 && strings.Contains(stderr, "No such file or directory"):
		return &notFoundError{"rsync: " + msg}
	case code == 12 || code == 10 && strings.Contains(stderr, "reset"):
		return fmt.Errorf("rsync: %s: %w", msg, errConnReset)
	}
	return &protocolError{fmt.Sprintf("rsync exited with status %d: %s", code, msg)}
}

type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
