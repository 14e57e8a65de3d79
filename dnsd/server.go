package dnsd

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// ServerConfig says where and how the transports listen.
type ServerConfig struct {
	// Listen are host:port addresses; each gets UDP and TCP on the same
	// port. Port 0 picks a free port (the same for both).
	Listen []string
	// TCPIdle closes a TCP connection that sends no query for this long
	// (RFC 7766 section 6.2.3); default 10s.
	TCPIdle time.Duration
	// TCPMax is how many TCP connections may be open at once; a
	// connection beyond it is closed at once. Default 256.
	TCPMax int
	// TCPPerSource is how many of them one source may hold (RFC 7766
	// section 6.2.2): an IPv4 address, or an IPv6 /64, the least a host
	// is given. A connection beyond it is closed at once. Default 16.
	TCPPerSource int
	// UDPReaders is how many sockets (SO_REUSEPORT) and threads read
	// each UDP address; default GOMAXPROCS.
	UDPReaders int
}

// Server moves DNS messages between sockets and a Handler: UDP with one
// reader per socket, TCP with one goroutine per connection reading
// pipelined queries in order.
type Server struct {
	h      *Handler
	cfg    ServerConfig
	log    *slog.Logger
	udp    []int // UDP sockets, outside Go's netpoller (see udpBatch)
	udpWG  sync.WaitGroup
	tcp    []net.Listener
	addrs  []netip.AddrPort
	wg     sync.WaitGroup
	conns  sync.Map // open TCP connections, closed by Close
	ntcp   atomic.Int64
	srcMu  sync.Mutex
	perSrc map[netip.Prefix]int // open TCP connections per source
	done   chan struct{}        // closed by Close
	once   sync.Once
	// sleep waits after a failed Accept; tests replace it to see the
	// delays without waiting them.
	sleep func(time.Duration)
}

// Listen binds every address of cfg, UDP and TCP, or none.
func Listen(h *Handler, cfg ServerConfig, log *slog.Logger) (*Server, error) {
	if cfg.TCPIdle <= 0 {
		cfg.TCPIdle = 10 * time.Second
	}
	if cfg.TCPMax <= 0 {
		cfg.TCPMax = 256
	}
	if cfg.TCPPerSource <= 0 {
		cfg.TCPPerSource = 16
	}
	if cfg.UDPReaders <= 0 {
		cfg.UDPReaders = runtime.GOMAXPROCS(0)
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("no address to listen on")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{h: h, cfg: cfg, log: log, done: make(chan struct{}), perSrc: map[netip.Prefix]int{}}
	s.sleep = s.pause
	for _, addr := range cfg.Listen {
		if err := s.bind(addr); err != nil {
			s.Close()
			return nil, err
		}
	}
	// Each UDP reader holds a P while it waits in recvmmsg (see
	// udpBatch): keep one more for everything else, TCP and timers.
	if n := len(s.udp) + 1; runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
	return s, nil
}

var reusePort = net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}}

// bind opens the UDP sockets and the TCP listener of one address. With
// port 0 it retries until UDP and TCP get the same free port.
func (s *Server) bind(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port with an IP address, e.g. 127.0.0.1:53 or [::1]:53", addr)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	ctx := context.Background()
	for try := 0; ; try++ {
		first, err := udpSocket(ap)
		if err != nil {
			return fmt.Errorf("listen on udp %s: %w", ap, err)
		}
		bound := ap
		if sa, err := unix.Getsockname(first); err == nil {
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				bound = netip.AddrPortFrom(ap.Addr(), uint16(sa.Port))
			case *unix.SockaddrInet6:
				bound = netip.AddrPortFrom(ap.Addr(), uint16(sa.Port))
			}
		}
		ln, err := reusePort.Listen(ctx, "tcp", bound.String())
		if err != nil {
			unix.Close(first)
			if ap.Port() == 0 && try < 10 {
				continue
			}
			return fmt.Errorf("listen on tcp %s: %w", bound, err)
		}
		s.udp = append(s.udp, first)
		s.tcp = append(s.tcp, ln)
		s.addrs = append(s.addrs, bound)
		for range s.cfg.UDPReaders - 1 {
			fd, err := udpSocket(bound)
			if err != nil {
				return fmt.Errorf("listen on udp %s: %w", bound, err)
			}
			s.udp = append(s.udp, fd)
		}
		return nil
	}
}

// udpSocket opens a blocking UDP socket bound to ap with SO_REUSEPORT,
// which Go's netpoller never sees: a datagram then wakes the thread
// waiting in recvmmsg and nothing else (registered, every datagram would
// also wake a thread waiting in epoll).
func udpSocket(ap netip.AddrPort) (int, error) {
	addr := ap.Addr().Unmap()
	family, sa := unix.AF_INET6, unix.Sockaddr(nil)
	if addr.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: addr.As4()}
	} else {
		sa6 := &unix.SockaddrInet6{Port: int(ap.Port()), Addr: addr.As16()}
		if z := addr.Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return -1, err
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	tv := unix.NsecToTimeval(readWait.Nanoseconds())
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err == nil {
		err = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	}
	if err == nil && family == unix.AF_INET6 {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("bind", err)
	}
	return fd, nil
}

// Addrs returns the bound addresses, one per Listen entry.
func (s *Server) Addrs() []netip.AddrPort { return s.addrs }

// Serve starts the readers and returns at once.
func (s *Server) Serve() {
	for _, fd := range s.udp {
		s.udpWG.Add(1)
		go s.serveUDP(fd)
	}
	for _, ln := range s.tcp {
		s.wg.Add(1)
		go s.acceptTCP(ln)
	}
}

// Close stops the transports: sockets are closed, open TCP connections
// too, and Close waits for the goroutines.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	// A reader waiting in recvmmsg returns at once when its socket is
	// shut down; the sockets are closed only once no reader uses them.
	for _, fd := range s.udp {
		unix.Shutdown(fd, unix.SHUT_RD)
	}
	s.udpWG.Wait()
	for _, fd := range s.udp {
		unix.Close(fd)
	}
	s.udp = nil
	for _, ln := range s.tcp {
		ln.Close()
	}
	s.conns.Range(func(k, _ any) bool {
		k.(net.Conn).Close()
		return true
	})
	s.wg.Wait()
}

// udpBatchSize is how many datagrams one recvmmsg/sendmmsg moves at most.
const udpBatchSize = 64

// udpQueryMax is the largest UDP query read; a larger datagram is
// dropped (a question, its OPT record and options take a few hundred
// bytes). Replies are built in buffers of the same size (at most MaxUDP
// is sent).
const udpQueryMax = 4096

// serveUDP reads up to udpBatchSize queries with one system call,
// answers them, and sends the replies with one more: under load the
// system calls, not the answers, are what a query costs.
func (s *Server) serveUDP(fd int) {
	defer s.udpWG.Done()
	// The reader waits in recvmmsg on a thread of its own (see udpBatch).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m := s.h.Metrics()
	b := newUDPBatch(fd, udpBatchSize, udpQueryMax)
	sc := NewScratch()
	bufs := make([][]byte, udpBatchSize)
	for i := range bufs {
		bufs[i] = make([]byte, 0, udpQueryMax)
	}
	// The batch's datagrams that are not empty, their sources and
	// where they are in b; replies[j] is msgs[j]'s.
	msgs, replies := make([][]byte, 0, udpBatchSize), make([][]byte, udpBatchSize)
	srcs, at := make([]netip.Addr, 0, udpBatchSize), make([]int, 0, udpBatchSize)
	for {
		// A shut-down socket reads as empty datagrams, not as an error,
		// so the reader looks for Close before every batch.
		select {
		case <-s.done:
			return
		default:
		}
		n, err := b.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.Error("udp_read")
			continue
		}
		msgs, srcs, at = msgs[:0], srcs[:0], at[:0]
		for i := range n {
			if l := b.len(i); l > 0 {
				msgs, srcs, at = append(msgs, b.bufs[i][:l]), append(srcs, b.source(i)), append(at, i)
				replies[len(at)-1] = bufs[i]
			}
		}
		s.h.ServeBatch(sc, replies[:len(msgs)], msgs, srcs, UDP)
		k := 0
		for j, reply := range replies[:len(msgs)] {
			if len(reply) == 0 {
				continue
			}
			b.reply(k, at[j], reply)
			k++
		}
		dropped, err := b.write(k)
		for range dropped {
			m.Error("udp_write")
		}
		if err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (s *Server) acceptTCP(ln net.Listener) {
	defer s.wg.Done()
	m := s.h.Metrics()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.Error("tcp_accept")
			delay = acceptDelay(delay)
			s.log.Debug("accept failed; retrying", "error", err, "in", delay)
			s.sleep(delay)
			continue
		}
		delay = 0
		src := sourceOf(c.RemoteAddr())
		if !s.take(src) {
			m.Error("tcp_per_source")
			c.Close()
			continue
		}
		if s.ntcp.Add(1) > int64(s.cfg.TCPMax) {
			s.ntcp.Add(-1)
			s.release(src)
			m.Error("tcp_rejected")
			c.Close()
			continue
		}
		m.tcpConns.Add(1)
		s.conns.Store(c, nil)
		s.wg.Add(1)
		go s.serveTCP(c, src)
	}
}

// sourceOf is what counts as one source of connections: the address for
// IPv4, the /64 for IPv6 (a host gets at least a /64 and picks any
// address in it).
func sourceOf(a net.Addr) netip.Prefix {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}
	}
	ip := ta.AddrPort().Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.WithZone("").Prefix(bits)
	return p
}

// take counts a connection from src, or reports that src holds as many
// as it may.
func (s *Server) take(src netip.Prefix) bool {
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	if s.perSrc[src] >= s.cfg.TCPPerSource {
		return false
	}
	s.perSrc[src]++
	return true
}

// release uncounts a connection from src.
func (s *Server) release(src netip.Prefix) {
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	if s.perSrc[src]--; s.perSrc[src] <= 0 {
		delete(s.perSrc, src)
	}
}

// acceptDelay is the wait after a failed Accept that follows one of
// prev (0: the first failure).
func acceptDelay(prev time.Duration) time.Duration {
	if prev == 0 {
		return 5 * time.Millisecond
	}
	return min(2*prev, time.Second)
}

// pause waits d, or until the server is closed.
func (s *Server) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.done:
	}
}

// serveTCP answers the queries of one connection in the order they come
// (RFC 7766: a client may send several without waiting), until the
// client closes it, sends nothing for TCPIdle, or sends garbage.
func (s *Server) serveTCP(c net.Conn, src netip.Prefix) {
	defer s.wg.Done()
	defer func() {
		s.conns.Delete(c)
		c.Close()
		s.ntcp.Add(-1)
		s.release(src)
		s.h.Metrics().tcpConns.Add(-1)
	}()
	from := netip.Addr{}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		from = ta.AddrPort().Addr()
	}
	r := bufio.NewReaderSize(c, 4096)
	sc := NewScratch()
	msg := make([]byte, dns.MaxMsgSize)
	out := make([]byte, 2, 2+dns.MaxMsgSize)
	var n [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.TCPIdle))
		if _, err := io.ReadFull(r, n[:]); err != nil {
			return
		}
		l := int(binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(r, msg[:l]); err != nil {
			return
		}
		reply := s.h.Serve(sc, out[2:], msg[:l], from, TCP)
		if reply == nil {
			continue
		}
		if &reply[0] != &out[2:3][0] { // grew past out while building, then truncated
			reply = out[2 : 2+copy(out[2:cap(out)], reply)]
		}
		binary.BigEndian.PutUint16(out, uint16(len(reply)))
		c.SetWriteDeadline(time.Now().Add(s.cfg.TCPIdle))
		if _, err := c.Write(out[:2+len(reply)]); err != nil {
			return
		}
	}
}
