package dnsd

import (
	"encoding/binary"
	"net"
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is the datagram side of one UDP socket: recvmmsg and sendmmsg
// on message headers, buffers and address slots allocated once, so a
// datagram costs a share of two system calls and no allocation (x/net's
// batch reads allocate an address per datagram).
//
// The socket blocks, is not Go's (the netpoller never sees it: see
// udpSocket), and its reader waits inside recvmmsg on a thread of its own
// (serveUDP locks it), as a C server's threads do: the kernel wakes the
// reader when a datagram arrives, and nothing else. Through Go's
// netpoller every wait went socket → epoll → scheduler → goroutine, and
// dnsd needed a third more CPU per query than gdnsd on two cores
// (bench/dnsd-load.sh: 0.73 of gdnsd's queries/s with the netpoller).
// The calls are raw (the runtime is not told of them, so it does not hand
// the P to another thread at each): a reader holds its P while it waits,
// which is why Listen keeps a P more than the readers. SO_RCVTIMEO bounds
// each wait (readWait), so a signal, the runtime preempting the thread
// for the garbage collector, interrupts it rather than restarting it.
type udpBatch struct {
	fd      int
	in, out []unix.Mmsghdr
	inIov   []unix.Iovec
	outIov  []unix.Iovec
	names   []unix.RawSockaddrInet6 // the sources; large enough for IPv4 too
	bufs    [][]byte                // what each datagram read holds
}

// readWait bounds how long a reader waits in recvmmsg: how late it sees
// Close and the longest its P is kept from the garbage collector should a
// preemption signal be missed.
const readWait = 100 * time.Millisecond

func newUDPBatch(fd, n, size int) *udpBatch {
	b := &udpBatch{fd: fd,
		in: make([]unix.Mmsghdr, n), out: make([]unix.Mmsghdr, n),
		inIov: make([]unix.Iovec, n), outIov: make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n), bufs: make([][]byte, n)}
	for i := range n {
		b.bufs[i] = make([]byte, size)
		b.inIov[i].Base = &b.bufs[i][0]
		b.inIov[i].SetLen(size)
		h := &b.in[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.inIov[i]
		h.SetIovlen(1)
		b.out[i].Hdr.Iov = &b.outIov[i]
		b.out[i].Hdr.SetIovlen(1)
	}
	return b
}

// read waits for datagrams and reads as many as are queued, up to the
// batch size; datagram i is b.bufs[i][:b.len(i)] from b.source(i). It
// returns 0 and no error when readWait passed without a datagram.
func (b *udpBatch) read() (int, error) {
	for i := range b.in {
		b.in[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.in[i].Hdr.Flags = 0
		b.in[i].Len = 0
	}
	r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(b.fd), uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), unix.MSG_WAITFORONE, 0, 0)
	switch e {
	case 0:
		return int(r), nil
	case unix.EAGAIN, unix.EINTR: // readWait passed, or a signal
		return 0, nil
	}
	return 0, e
}

// len is how many bytes datagram i holds; a truncated one (larger than
// the buffer) is reported as empty, so it is dropped.
func (b *udpBatch) len(i int) int {
	if b.in[i].Hdr.Flags&unix.MSG_TRUNC != 0 {
		return 0
	}
	return int(b.in[i].Len)
}

// source returns the address datagram i came from.
func (b *udpBatch) source(i int) netip.Addr {
	sa := &b.names[i]
	switch sa.Family {
	case unix.AF_INET:
		s4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrFrom4(s4.Addr)
	case unix.AF_INET6:
		return netip.AddrFrom16(sa.Addr).Unmap()
	}
	return netip.Addr{}
}

// port returns the source port of datagram i (for tests).
func (b *udpBatch) port(i int) uint16 {
	return binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&b.names[i].Port))[:])
}

// reply queues reply as the k-th answer, to the source of datagram i.
func (b *udpBatch) reply(k, i int, reply []byte) {
	h := &b.out[k].Hdr
	h.Name, h.Namelen = b.in[i].Hdr.Name, b.in[i].Hdr.Namelen
	b.outIov[k].Base = &reply[0]
	b.outIov[k].SetLen(len(reply))
}

// write sends the first k queued answers, and says how many the kernel
// refused (an unreachable source, say): those are skipped, not retried.
func (b *udpBatch) write(k int) (dropped int, err error) {
	for sent := 0; sent < k; {
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(b.fd), uintptr(unsafe.Pointer(&b.out[sent])), uintptr(k-sent), 0, 0, 0)
		switch e {
		case 0:
			sent += int(r)
		case unix.EINTR:
		case unix.EBADF:
			return dropped, net.ErrClosed
		default:
			sent++ // sendmmsg fails on the first datagram only: skip it
			dropped++
		}
	}
	return dropped, nil
}
