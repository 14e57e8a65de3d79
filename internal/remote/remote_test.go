package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/signature"
)

// server is an https server on loopback serving one file and its
// signature, misbehaving as the test says.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	sig      []byte
	file     http.HandlerFunc // replaces the file's handler when set
	sigFile  http.HandlerFunc // replaces the signature's handler when set
	requests []string         // "GET /state.json if-none-match=..."
	gone     chan struct{}    // closed when a hanging handler saw the client leave
	release  chan struct{}
}

func newServer(t *testing.T, key ed25519.PrivateKey, body string) *server {
	s := &server{gone: make(chan struct{}, 16), release: make(chan struct{})}
	s.set(key, body)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.Path+" inm="+r.Header.Get("If-None-Match")+" ims="+r.Header.Get("If-Modified-Since"))
		file, sigFile, body, sig := s.file, s.sigFile, s.body, s.sig
		s.mu.Unlock()
		switch r.URL.Path {
		case "/api/state.json":
			if file != nil {
				file(w, r)
				return
			}
			etag := fmt.Sprintf(`"%x"`, len(body))
			w.Header().Set("ETag", etag)
			w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 08:00:00 GMT")
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Write(body)
		case "/api/state.json.sig":
			if sigFile != nil {
				sigFile(w, r)
				return
			}
			w.Write(sig)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() {
		close(s.release)
		s.Close()
	})
	return s
}

func (s *server) set(key ed25519.PrivateKey, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.sig = []byte(body), signature.Sign(key, []byte(body))
}

// hang answers nothing until the client leaves (or the test ends).
func (s *server) hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
		s.gone <- struct{}{}
	case <-s.release:
	}
}

func (s *server) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

func (s *server) roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

func keys(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func source(t *testing.T, s *server, pub ed25519.PublicKey, timeout time.Duration) *Source {
	t.Helper()
	src, err := New(s.URL+"/api/state.json", Config{Keys: []ed25519.PublicKey{pub}, Roots: s.roots(), Timeout: timeout, MaxSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestFetchGoodAndNotModified(t *testing.T) {
	pub, priv := keys(t)
	s := newServer(t, priv, `{"taken": 1}`)
	src := source(t, s, pub, 0)
	r, err := src.Fetch(context.Background())
	if err != nil || string(r.Body) != `{"taken": 1}` || r.Key != signature.ID(pub) || r.LastModified.IsZero() {
		t.Fatalf("good: %+v, %v", r, err)
	}
	// Not accepted yet: fetched whole again, without validators.
	if r2, err := src.Fetch(context.Background()); err != nil || r2.NotModified {
		t.Fatalf("before Accept: %+v %v", r2, err)
	}
	src.Accept(r)
	r3, err := src.Fetch(context.Background())
	if err != nil || !r3.NotModified || r3.Body != nil {
		t.Fatalf("after Accept: %+v %v, want NotModified", r3, err)
	}
	want := []string{
		"/api/state.json inm= ims=", "/api/state.json.sig inm= ims=",
		"/api/state.json inm= ims=", "/api/state.json.sig inm= ims=",
		`/api/state.json inm="c" ims=Mon, 23 Nov 2026 08:00:00 GMT`, // 304: no signature fetched
	}
	if got := s.log(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A new body is fetched and verified.
	s.set(priv, `{"taken": 22}`)
	if r4, err := src.Fetch(context.Background()); err != nil || string(r4.Body) != `{"taken": 22}` {
		t.Fatalf("changed: %+v %v", r4, err)
	}
}

// Each way a server can fail is refused with its reason, and nothing
// else is returned.
func TestFetchRefuses(t *testing.T) {
	pub, priv := keys(t)
	otherPub, otherPriv := keys(t)
	const body = `{"schema": 2, "taken": "2026-11-23T08:00:00Z"}`
	tests := []struct {
		name    string
		file    http.HandlerFunc
		sig     http.HandlerFunc
		key     ed25519.PublicKey
		timeout time.Duration
		max     int64
		want    Reason
		msg     string
	}{
		{name: "a tampered byte fails the signature", file: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(strings.Replace(body, "08:00", "09:00", 1)))
		}, want: Signature, msg: "does not match"},
		{name: "a body cut short with its length fails the signature", file: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body[:20]))
		}, want: Signature, msg: "20 bytes"},
		{name: "a body cut short of its Content-Length is truncated", file: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Write([]byte(body[:20]))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // close the connection mid-body
		}, want: Truncated, msg: "unexpected EOF"},
		{name: "a chunked body cut short is truncated", file: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body[:20]))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}, want: Truncated},
		{name: "a signature by another key is refused", key: otherPub, want: Signature, msg: "--verify-key"},
		{name: "a signature over other bytes is refused", sig: func(w http.ResponseWriter, r *http.Request) {
			w.Write(signature.Sign(otherPriv, []byte(body)))
		}, want: Signature},
		{name: "a missing signature is refused", sig: http.NotFound, want: Signature, msg: "no signature at"},
		{name: "a base64 signature is refused with the reason", sig: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("c2lnbmF0dXJl\n"))
		}, want: Signature, msg: "not the 64 of a raw Ed25519 signature"},
		{name: "a server error", file: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "oops", http.StatusInternalServerError)
		}, want: HTTPStatus, msg: "500 Internal Server Error"},
		{name: "a 304 to a request that had no validators", file: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}, want: HTTPStatus, msg: "304"},
		{name: "a server error for the signature", sig: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "oops", http.StatusBadGateway)
		}, want: HTTPStatus, msg: "502"},
		{name: "a body over the limit with its length", max: 10, want: TooLarge, msg: "larger than 10 bytes"},
		{name: "a body over the limit without a length", max: 10, file: func(w http.ResponseWriter, r *http.Request) {
			for range 100 {
				w.Write([]byte(body))
				w.(http.Flusher).Flush()
			}
		}, want: TooLarge},
		{name: "a redirect to http is refused", file: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+r.Host+"/api/state.json", http.StatusFound)
		}, want: Redirect, msg: "not https"},
		{name: "a redirect loop ends", file: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/api/state.json", http.StatusFound)
		}, want: Redirect, msg: "more than 5 redirects"},
		{name: "a hanging server is given up at the deadline", timeout: 300 * time.Millisecond, file: nil /* set below */, want: Timeout, msg: "no whole answer within 300ms"},
		{name: "a hanging signature is given up at the deadline", timeout: 300 * time.Millisecond, sig: nil /* set below */, want: Timeout},
		{name: "a body trickling slower than the deadline is given up", timeout: 300 * time.Millisecond, file: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			for {
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}, want: Timeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, priv, body)
			s.file, s.sigFile = tc.file, tc.sig
			hanging := strings.HasPrefix(tc.name, "a hanging")
			if hanging && strings.Contains(tc.name, "signature") {
				s.sigFile = s.hang
			} else if hanging {
				s.file = s.hang
			}
			key := pub
			if tc.key != nil {
				key = tc.key
			}
			max := tc.max
			if max == 0 {
				max = 1 << 20
			}
			src, err := New(s.URL+"/api/state.json", Config{Keys: []ed25519.PublicKey{key}, Roots: s.roots(), Timeout: tc.timeout, MaxSize: max})
			if err != nil {
				t.Fatal(err)
			}
			r, err := src.Fetch(context.Background())
			var e *Error
			if r != nil || !errors.As(err, &e) || e.Reason != tc.want || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), s.URL) {
				t.Fatalf("got %+v, %v; want reason %s with %q and the URL", r, err, tc.want, tc.msg)
			}
			if hanging {
				// The client left: the server saw its connection go.
				select {
				case <-s.gone:
				case <-time.After(10 * time.Second):
					t.Error("the server never saw the client give up")
				}
			}
		})
	}
}

func TestFetchTLS(t *testing.T) {
	pub, priv := keys(t)
	s := newServer(t, priv, "x")
	// Without the test CA: the system's roots do not know it.
	src, err := New(s.URL+"/api/state.json", Config{Keys: []ed25519.PublicKey{pub}, MaxSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := src.Fetch(context.Background()); !errors.As(err, &e) || e.Reason != TLS {
		t.Errorf("an unknown CA: %v, want reason tls", err)
	}
	// An https redirect on the same server is followed.
	s.file = func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("moved") == "" {
			http.Redirect(w, r, "/api/state.json?moved=1", http.StatusMovedPermanently)
			return
		}
		w.Write([]byte("x"))
	}
	if r, err := source(t, s, pub, 0).Fetch(context.Background()); err != nil || string(r.Body) != "x" {
		t.Errorf("an https redirect: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	pub, _ := keys(t)
	k := []ed25519.PublicKey{pub}
	tests := []struct {
		name string
		url  string
		keys []ed25519.PublicKey
		want string
	}{
		{"plain http", "http://example.org/api/state.json", k, "only https"},
		{"a file path", "/var/lib/state.json", k, "only https"},
		{"credentials in the URL", "https://user:secret@example.org/x", k, "credentials"},
		{"no host", "https:///x", k, "no host"},
		{"a fragment", "https://example.org/x#y", k, "fragment"},
		{"no key", "https://example.org/x", nil, "no key"},
	}
	for _, tc := range tests {
		if _, err := New(tc.url, Config{Keys: tc.keys}); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
