package probe

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// fetcher reads files under one endpoint's base URL.
type fetcher interface {
	// get copies the file at path (relative to the base URL) to w as it
	// comes, and fails with a *tooLargeError once more than limit bytes
	// came: nothing is kept but what w keeps.
	get(ctx context.Context, path string, limit int64, w io.Writer) error
	close()
}

// endpoint is what a fetcher needs to know about one check.
type endpoint struct {
	base   *url.URL
	family state.Family // "" for the origin: any family
	addrs  []netip.Addr
	policy *addrPolicy
	origin *url.URL // the origin's base URL; nil when checking the origin
	cfg    *Config
}

// tooLargeError is a file larger than the most the probe reads of it.
type tooLargeError struct {
	path  string
	limit int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes (the maximum read); a stamp or metadata file is never that large", e.path, e.limit)
}

// copyBuffers are the buffers bodies are streamed through.
var copyBuffers = sync.Pool{New: func() any { return new([16 << 10]byte) }}

// copyLimited copies r to w, at most limit bytes: more is a
// *tooLargeError.
func copyLimited(w io.Writer, r io.Reader, path string, limit int64) error {
	buf := copyBuffers.Get().(*[16 << 10]byte)
	defer copyBuffers.Put(buf)
	n, err := io.CopyBuffer(w, io.LimitReader(r, limit+1), buf[:])
	if err != nil {
		return err
	}
	if n > limit {
		return &tooLargeError{path, limit}
	}
	return nil
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
	d := newDialer(ep)
	tr := &http.Transport{
		Proxy:                  nil, // a proxy would hide the family and address checked
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: ep.cfg.RootCAs, Time: ep.cfg.Now, MinVersion: tls.VersionTLS12},
		DisableCompression:     true, // hash the bytes as served
		MaxIdleConnsPerHost:    1,
		MaxResponseHeaderBytes: maxHeader,
		IdleConnTimeout:        ep.cfg.Timeout,
		// Each connection has a buffer each way for as long as it is
		// open, a hanging one for a whole timeout: thousands at once. A
		// request is a few hundred bytes; an answer's header is read
		// through its buffer a line at a time, and its body through
		// copyLimited's, past it.
		WriteBufferSize: 1 << 10,
		ReadBufferSize:  2 << 10,
	}
	c := &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		// The Location is the mirror's word: errors do not repeat it.
		if len(via) > maxRedirects {
			return &redirectError{fmt.Sprintf("more than %d redirects (a redirect loop?)", maxRedirects)}
		}
		if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
			return &redirectError{"a redirect to a scheme other than http or https"}
		}
		if ep.origin != nil && underBase(req.URL, ep.origin) {
			return &toOriginError{path: strings.TrimPrefix(via[0].URL.Path, ep.base.Path)}
		}
		return nil
	}}
	return &httpFetcher{ep: ep, dialer: d, client: c, tr: tr}
}

// maxRedirects is how many redirects a request follows.
const maxRedirects = 5

// maxHeader bounds the header of an HTTP answer: a mirror's are a few
// hundred bytes, and each connection may hold this much at once.
const maxHeader = 32 << 10

// underBase reports whether u is base or below it: the same host name
// (any scheme or port) and a path under base's.
func underBase(u, base *url.URL) bool {
	if !strings.EqualFold(strings.TrimSuffix(u.Hostname(), "."), strings.TrimSuffix(base.Hostname(), ".")) {
		return false
	}
	p := u.Path
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	p = path.Clean(p)
	if p != "/" {
		p += "/"
	}
	return strings.HasPrefix(p, base.Path)
}

func (f *httpFetcher) get(ctx context.Context, path string, limit int64, w io.Writer) error {
	u := f.ep.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", f.ep.cfg.UserAgent)
	resp, err := f.client.Do(req)
	if err != nil {
		return httpError(err)
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		f.mu.Lock()
		f.certExpiry = resp.TLS.PeerCertificates[0].NotAfter
		f.mu.Unlock()
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{code: resp.StatusCode, path: path}
	}
	if resp.ContentLength > limit {
		return &tooLargeError{path, limit}
	}
	return httpError(copyLimited(w, resp.Body, path, limit))
}

// httpError keeps the errors the probe can describe in its own words and
// turns the rest (net/http's, which may quote the answer) into a fixed
// one.
func httpError(err error) error {
	if err == nil {
		return nil
	}
	if _, _, ok := describe(err); ok {
		return err
	}
	switch {
	case strings.Contains(err.Error(), "failed to parse Location header"): // net/http has no type for it
		return &redirectError{"a redirect whose Location is not a URL"}
	case isTLS(err):
		return &tlsError{}
	}
	return &protocolError{"not a valid HTTP answer"}
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
	return &ftpFetcher{ep: ep, dialer: newDialer(ep)}
}

func (f *ftpFetcher) get(ctx context.Context, path string, limit int64, w io.Writer) error {
	// The library's calls do not take a context: a watcher closes the
	// connections when ctx ends, which makes them return.
	stop := context.AfterFunc(ctx, f.dialer.closeAll)
	defer stop()
	err := f.getLocked(ctx, path, limit, w)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// maxControl bounds what an FTP server may send on the control
// connection (the library reads its lines whole, however long).
const maxControl = 64 << 10

func (f *ftpFetcher) getLocked(ctx context.Context, path string, limit int64, w io.Writer) error {
	f.ctx = ctx
	if f.conn == nil {
		port := f.ep.base.Port()
		if port == "" {
			port = "21"
		}
		control := true
		c, err := ftp.Dial(net.JoinHostPort(f.ep.base.Hostname(), port),
			ftp.DialWithContext(ctx),
			ftp.DialWithDialFunc(func(network, address string) (net.Conn, error) {
				c, err := f.dialer.DialContext(f.ctx, network, address)
				if err == nil && control {
					control = false
					c = &cappedConn{Conn: c, left: maxControl}
				}
				return c, err
			}))
		if err != nil {
			return ftpError(err, "connecting")
		}
		if err := c.Login("anonymous", "mirrorsteer@"); err != nil {
			c.Quit()
			return ftpError(err, "anonymous login")
		}
		f.conn = c
	}
	full := strings.TrimSuffix(f.ep.base.Path, "/") + "/" + path
	r, err := f.conn.Retr(full)
	if err != nil {
		return ftpError(err, "RETR "+path)
	}
	defer r.Close()
	if err := copyLimited(w, r, path, limit); err != nil {
		return ftpError(err, "RETR "+path)
	}
	return nil
}

// ftpError turns the library's errors into the probe's: a 550 answer is a
// missing file, other answers are protocol errors, network errors stay.
// The server's words are never kept, only its reply code.
func ftpError(err error, what string) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		if te.Code == ftp.StatusFileUnavailable {
			return &notFoundError{fmt.Sprintf("ftp: the server answered %d to %s: not there", te.Code, what)}
		}
		return &protocolError{fmt.Sprintf("ftp: the server answered %d to %s", te.Code, what)}
	}
	if _, _, ok := describe(err); ok {
		return err
	}
	return &protocolError{fmt.Sprintf("ftp: not a valid FTP answer to %s", what)}
}

// cappedConn is a connection that fails reads after left bytes.
type cappedConn struct {
	net.Conn
	left int64
}

func (c *cappedConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, &protocolError{fmt.Sprintf("ftp: the server sent more than %d bytes of replies", maxControl)}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= int64(n)
	return n, err
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
	fetched bool
}

// prefetcher is a fetcher that gets many files faster at once.
type prefetcher interface {
	prefetch(ctx context.Context, paths []string, limit int64) error
}

// newRsyncFetcher points rsync at the first address of the endpoint its
// policy allows (rsync connects by itself, without the dialer).
func newRsyncFetcher(ep endpoint) (*rsyncFetcher, error) {
	var refused error
	for _, a := range ep.addrs {
		if err := ep.policy.check(a, false); err != nil {
			refused = cmp.Or(refused, err)
			continue
		}
		tmp, err := os.MkdirTemp("", "mirrorsteer-rsync-")
		if err != nil {
			return nil, err
		}
		return &rsyncFetcher{ep: ep, addr: a, tmp: tmp}, nil
	}
	return nil, refused
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

// run runs rsync with args; its listing goes nowhere, the start of its
// messages is kept to classify a failure.
func (f *rsyncFetcher) run(ctx context.Context, args ...string) error {
	left := f.ep.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	secs := max(int(left.Seconds()+0.999), 1)
	fam := "-4"
	if f.addr.Is6() {
		fam = "-6"
	}
	all := append([]string{"--no-motd", fam, fmt.Sprintf("--timeout=%d", secs), fmt.Sprintf("--contimeout=%d", secs)}, args...)
	cmd := exec.CommandContext(ctx, f.ep.cfg.Rsync, all...)
	cmd.WaitDelay = 100 * time.Millisecond
	var stderr bytes.Buffer
	cmd.Stdout = nil // the null device: the listing is not needed
	cmd.Stderr = &limitedBuffer{b: &stderr, n: 8 << 10}
	err := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// rsync succeeded; a process it forked kept stderr open a little
		// longer than WaitDelay.
		err = nil
	}
	if err != nil {
		return rsyncError(err, stderr.String())
	}
	return nil
}

// prefetch copies paths (relative to the base URL) into a temporary tree
// with one rsync run: within an endpoint's one timeout, a second run (a
// listing first) would only add a process start and a round trip. Files
// that are missing or larger than limit are left out; get reports them.
func (f *rsyncFetcher) prefetch(ctx context.Context, paths []string, limit int64) error {
	list := filepath.Join(f.tmp, "files-from")
	if err := os.WriteFile(list, []byte(strings.Join(paths, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	tree := filepath.Join(f.tmp, "tree")
	os.RemoveAll(tree)
	err := f.run(ctx, "--copy-links", "--files-from="+list, fmt.Sprintf("--max-size=%d", limit), f.url(""), tree+"/")
	var nf *notFoundError
	if err != nil && !errors.As(err, &nf) {
		return err
	}
	f.fetched = true
	return nil
}

func (f *rsyncFetcher) get(ctx context.Context, path string, limit int64, w io.Writer) error {
	if !f.fetched {
		if err := f.prefetch(ctx, []string{path}, limit); err != nil {
			return err
		}
	}
	full := filepath.Join(f.tmp, "tree", filepath.FromSlash(path))
	st, err := os.Stat(full)
	switch {
	case err != nil:
		return &notFoundError{fmt.Sprintf("rsync: %s is not there (or larger than %d bytes)", path, limit)}
	case !st.Mode().IsRegular():
		return &protocolError{fmt.Sprintf("rsync: %s is not a regular file", path)}
	case st.Size() > limit:
		return &tooLargeError{path, limit}
	}
	file, err := os.Open(full)
	if err != nil {
		return err
	}
	defer file.Close()
	return copyLimited(w, file, path, limit)
}

func (f *rsyncFetcher) close() { os.RemoveAll(f.tmp) }

// rsyncExit says what rsync's exit statuses mean (rsync(1), EXIT VALUES).
var rsyncExit = map[int]string{
	1:  "syntax or usage error",
	2:  "protocol incompatibility",
	3:  "errors selecting input/output files or directories",
	5:  "error starting the client-server protocol",
	10: "error in socket I/O",
	11: "error in file I/O",
	12: "error in the rsync protocol data stream",
	23: "partial transfer due to an error",
	24: "partial transfer due to vanished source files",
	30: "timeout in data send/receive",
	35: "timeout waiting for the daemon connection",
}

// rsyncError classifies a failed rsync run by its exit status and
// messages. The messages may quote the server (a daemon's @ERROR line, a
// greeting that was not one), so only the status is kept.
func rsyncError(err error, stderr string) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return &protocolError{fmt.Sprintf("running rsync: %v", err)}
	}
	code := ee.ExitCode()
	switch {
	case strings.Contains(stderr, "Connection refused"):
		return fmt.Errorf("rsync: %w", errConnRefused)
	case strings.Contains(stderr, "No route to host"), strings.Contains(stderr, "Network is unreachable"):
		return fmt.Errorf("rsync: %w", errUnreachable)
	case code == 30 || code == 35:
		return &timeoutError{fmt.Sprintf("rsync exited with status %d (%s)", code, rsyncExit[code])}
	case code == 23 && strings.Contains(stderr, "No such file or directory"):
		return &notFoundError{"rsync: the base path or a file asked for is not there"}
	case code == 12 || code == 10 && strings.Contains(stderr, "reset"):
		return fmt.Errorf("rsync: %w", errConnReset)
	}
	what := cmp.Or(rsyncExit[code], "unknown status")
	return &protocolError{fmt.Sprintf("rsync exited with status %d (%s)", code, what)}
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
