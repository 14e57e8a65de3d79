package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// endless is a server that answers every request with a body that never
// ends and has no length (it ends the connection, it says, which it never
// does), as a broken or hostile mirror does. It writes one buffer over
// and over, so that it allocates nothing per byte: the tests measure
// what the client allocates, in the same process.
type endless struct {
	l     net.Listener
	url   string
	ended chan struct{} // a connection ended: its client hung up
	sent  atomic.Int64
}

func newEndless(tb testing.TB) *endless {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	e := &endless{l: l, url: "http://" + l.Addr().String(), ended: make(chan struct{}, 1000)}
	head := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
	chunk := []byte(strings.Repeat("x", 32<<10))
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { c.Close(); e.ended <- struct{}{} }()
				if readHead(c) != nil {
					return
				}
				if _, err := c.Write(head); err != nil {
					return
				}
				for {
					n, err := c.Write(chunk)
					e.sent.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return e
}

// readHead reads a request's head, up to its empty line.
func readHead(c net.Conn) error {
	var b [1]byte
	var last uint32
	for last != 0x0d0a0d0a {
		if _, err := c.Read(b[:]); err != nil {
			return err
		}
		last = last<<8 | uint32(b[0])
	}
	return nil
}

// fetcher returns an HTTP fetcher for the server's /pub/, as a check of
// a mirror on loopback that declares 127.0.0.0/8 has.
func (e *endless) fetcher(tb testing.TB, cfg *Config) *httpFetcher {
	tb.Helper()
	base, err := url.Parse(e.url + "/pub/")
	if err != nil {
		tb.Fatal(err)
	}
	ap := netip.MustParseAddrPort(base.Host)
	return newHTTPFetcher(endpoint{base: base, family: state.IPv4, addrs: []netip.Addr{ap.Addr()},
		policy: &addrPolicy{declared: prefixes("127.0.0.0/8")}, cfg: cfg})
}

func testConfig() *Config {
	cfg := Defaults()
	cfg.fill()
	return &cfg
}

// TestAnEndlessBodyIsCutAtTheLimit: an endless body is read no further
// than the limit (one byte more, to know it is larger), is a
// *tooLargeError, and its connection is closed at once rather than kept
// for the next request while the server goes on sending.
func TestAnEndlessBodyIsCutAtTheLimit(t *testing.T) {
	e := newEndless(t)
	f := e.fetcher(t, testConfig())
	defer f.close()
	for _, limit := range []int64{maxStamp, 64 << 10, 4 << 20} {
		var got countingWriter
		err := f.get(context.Background(), "repodata/repomd.xml", limit, &got)
		if tl := (*tooLargeError)(nil); !errors.As(err, &tl) || tl.limit != limit {
			t.Errorf("limit %d: %v, want a *tooLargeError at %d bytes", limit, err, limit)
		}
		if got.n > limit+1 {
			t.Errorf("limit %d: %d bytes were read", limit, got.n)
		}
		// The server's handler returns when its writes fail: when the
		// connection was closed. The bound only ends a failing test.
		select {
		case <-e.ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("limit %d: the connection still streams after the body was cut (%d bytes sent)", limit, e.sent.Load())
		}
	}
}

// allocPerFetch is how many bytes reading an endless body up to limit
// allocates, averaged over n requests (each on a new connection: an
// endless answer's is closed).
func allocPerFetch(tb testing.TB, f *httpFetcher, limit int64, n int) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		var got countingWriter
		if err := f.get(context.Background(), "repodata/repomd.xml", limit, &got); !errors.As(err, new(*tooLargeError)) {
			tb.Fatalf("limit %d: %v, want a *tooLargeError", limit, err)
		}
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(n)
}

// TestAnEndlessBodyCostsTheSameMemoryWhateverItsLength: the memory a
// request takes does not grow with the body: 16 MiB of it allocate no
// more than 64 KiB do (a connection, a request, its buffers), because
// the body goes through one pooled buffer into the hash and is never
// kept. Measured in bytes allocated, not in time.
func TestAnEndlessBodyCostsTheSameMemoryWhateverItsLength(t *testing.T) {
	e := newEndless(t)
	f := e.fetcher(t, testConfig())
	defer f.close()
	allocPerFetch(t, f, 64<<10, 5) // the pools and the connection's first allocations
	small := allocPerFetch(t, f, 64<<10, 20)
	large := allocPerFetch(t, f, 16<<20, 20)
	const request = 64 << 10 // what one request may take, whatever its body
	if small > request || large > request {
		t.Errorf("a request allocates %d bytes for a 64 KiB body and %d for a 16 MiB one, want under %d", small, large, request)
	}
	if large > small+small/2 {
		t.Errorf("a request allocates %d bytes for a 64 KiB body and %d for a 16 MiB one: memory grows with the body", small, large)
	}
}

// BenchmarkEndlessBody measures what reading an endless body up to the
// limit allocates per request (B/op): the same for 64 KiB and 16 MiB.
func BenchmarkEndlessBody(b *testing.B) {
	e := newEndless(b)
	for _, limit := range []int64{64 << 10, 16 << 20} {
		b.Run(fmt.Sprintf("limit=%dKiB", limit>>10), func(b *testing.B) {
			f := e.fetcher(b, testConfig())
			defer f.close()
			b.ReportAllocs()
			b.SetBytes(limit)
			for b.Loop() {
				var got countingWriter
				if err := f.get(context.Background(), "repodata/repomd.xml", limit, &got); !errors.As(err, new(*tooLargeError)) {
					b.Fatal(err)
				}
			}
		})
	}
}
