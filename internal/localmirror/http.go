package localmirror

import (
	"bufio"
	"cmp"
	"crypto/tls"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveHTTP starts the HTTP (or HTTPS) server of s and returns its port.
func (s *Server) serveHTTP(useTLS bool) (int, error) {
	l4, l6, port, err := s.listen()
	if err != nil || l4 == nil {
		return port, err
	}
	if s.behaviour == LeakGarbage {
		s.acceptAndAnswer(Secret+"\r\n\r\n", l4, l6)
		return port, nil
	}
	var cfg *tls.Config
	if useTLS {
		cert, err := s.net.ca.leaf(s.Host, s.Addr, s.behaviour)
		if err != nil {
			return 0, err
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	for _, l := range []net.Listener{l4, l6} {
		if l == nil {
			continue
		}
		if cfg != nil {
			l = tls.NewListener(l, cfg)
		}
		srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ErrorLog: discardLog}
		go srv.Serve(l)
		s.net.onClose(func() { srv.Close() })
	}
	return port, nil
}

// ServeHTTP answers a request as the server's behaviour says.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	b, tree := s.behaviour, s.tree
	s.mu.Unlock()
	rel, ok := strings.CutPrefix(r.URL.Path, "/pub/")
	if !ok && r.URL.Path != "/pub" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Server", "localmirror")
	switch b {
	case NotFound:
		http.NotFound(w, r)
		return
	case ServerError:
		http.Error(w, "500 Internal Server Error: the disk array is on fire", http.StatusInternalServerError)
		return
	case Reset:
		s.hijack(w, func(c net.Conn) {
			// Read the request, then reset: SO_LINGER 0 makes close send RST.
			if tc, ok := underlying(c).(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			c.Close()
		})
		return
	case Hang:
		s.hijack(w, func(c net.Conn) {
			// Never answer; return when the client gives up or the
			// network closes.
			io.Copy(io.Discard, c)
			c.Close()
		})
		return
	case HugeBody:
		endless(w)
		return
	case RedirectLoop:
		n, _ := strconv.Atoi(r.URL.Query().Get("hop"))
		http.Redirect(w, r, fmt.Sprintf("%s?hop=%d", r.URL.Path, n+1), http.StatusFound)
		return
	case RedirectPrivate:
		http.Redirect(w, r, "http://10.255.255.1/pub/"+rel, http.StatusFound)
		return
	case RedirectMetadata:
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		return
	case RedirectOrigin:
		http.Redirect(w, r, s.net.origin.URLs["http"]+rel, http.StatusMovedPermanently)
		return
	case EndlessMetadata:
		if rel != StampPath {
			endless(w)
			return
		}
	case SlowAnswer:
		select {
		case <-time.After(cmp.Or(s.spec.Delay, time.Second)):
		case <-r.Context().Done():
			return
		case <-s.net.closing:
			return
		}
	case LeakStatus:
		if rel != StampPath {
			s.hijack(w, func(c net.Conn) {
				fmt.Fprintf(c, "HTTP/1.1 403 %s\r\nX-Secret: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", Secret, Secret, len(Secret), Secret)
				c.Close()
			})
			return
		}
	case LeakRedirect:
		w.Header().Set("Location", "http://["+Secret+"/")
		w.WriteHeader(http.StatusFound)
		return
	}
	body, ok := tree.Files[rel]
	if !ok {
		if list := tree.dir(rel); list != nil {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, "<html><head><title>Index of /pub/%s</title></head><body><h1>Index of /pub/%s</h1><pre>\n", html.EscapeString(rel), html.EscapeString(rel))
			for _, e := range list {
				fmt.Fprintf(w, "<a href=\"%s\">%s</a>\n", html.EscapeString(e), html.EscapeString(e))
			}
			fmt.Fprintf(w, "</pre></body></html>\n")
			return
		}
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Last-Modified", tree.Time.Format(http.TimeFormat))
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	if r.Method == http.MethodHead {
		return
	}
	if b == SlowBody {
		f, _ := w.(http.Flusher)
		tick := time.NewTicker(cmp.Or(s.spec.Delay, 100*time.Millisecond))
		defer tick.Stop()
		for i := range body {
			if _, err := w.Write(body[i : i+1]); err != nil {
				return
			}
			if f != nil {
				f.Flush()
			}
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			case <-s.net.closing:
				return
			}
		}
		return
	}
	w.Write(body)
}

// endlessChunk is what an endless body repeats; one for all, so that
// serving endless bodies costs the test process no memory.
var endlessChunk = []byte(strings.Repeat("1234567890", 6554))

// endless sends a body without a length that goes on (4 GiB) until the
// client hangs up.
func endless(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	chunk := endlessChunk
	for sent := 0; sent < 4<<30; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// acceptAndSay answers every connection on the listeners with msg, then
// reads what the client sends until it hangs up (closing at once could
// reset the connection before the client reads msg).
// acceptAndAnswer is acceptAndSay for a protocol where the client speaks
// first: msg follows the request's head. Said before it, Go's client may
// see it as an unsolicited answer on an idle connection rather than as
// the answer to its request.
func (s *Server) acceptAndAnswer(msg string, ls ...net.Listener) {
	s.accept(msg, true, ls)
}

// acceptAndSay answers every connection on ls with msg as soon as it is
// accepted, as a server that speaks first (FTP, rsync) greets.
func (s *Server) acceptAndSay(msg string, ls ...net.Listener) {
	s.accept(msg, false, ls)
}

func (s *Server) accept(msg string, afterHead bool, ls []net.Listener) {
	for _, l := range ls {
		if l == nil {
			continue
		}
		s.net.onClose(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				if !s.net.track(c) {
					return
				}
				go func() {
					defer s.net.untrack(c)
					if afterHead {
						readHead(c)
					}
					io.WriteString(c, msg)
					io.Copy(io.Discard, c)
					c.Close()
				}()
			}
		}()
	}
}

// dir returns the entries of the directory rel ("" is the root, else it
// ends in "/"), or nil if there is none.
func (tr *Tree) dir(rel string) []string {
	if rel != "" && !strings.HasSuffix(rel, "/") {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range tr.Paths() {
		rest, ok := strings.CutPrefix(p, rel)
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		if !seen[rest] {
			seen[rest] = true
			out = append(out, rest)
		}
	}
	return out
}

func (s *Server) hijack(w http.ResponseWriter, f func(net.Conn)) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("localmirror: cannot hijack")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if !s.net.track(c) {
		return
	}
	defer s.net.untrack(c)
	f(c)
}

func underlying(c net.Conn) net.Conn {
	if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
		return tc.NetConn()
	}
	return c
}

// readHead reads an HTTP request's head, up to its blank line (or 64 KiB,
// or an error).
func readHead(c net.Conn) {
	r := bufio.NewReader(io.LimitReader(c, 64<<10))
	for {
		line, err := r.ReadString('\n')
		if err != nil || line == "\r\n" || line == "\n" {
			return
		}
	}
}
