package dnsd

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is the datagram side of one UDP socket: recvmmsg and sendmmsg
// on message headers, buffers and address slots allocated once. Under
// load a datagram then costs a share of two system calls and no
// allocation: the standard library's and x/net's batch reads allocate an
// address per datagram, which at a few hundred thousand queries a second
// keeps the garbage collector busy.
type udpBatch struct {
	rc      syscall.RawConn
	in, out []unix.Mmsghdr
	inIov   []unix.Iovec
	outIov  []unix.Iovec
	names   []unix.RawSockaddrInet6 // the sources; large enough for IPv4 too
	bufs    [][]byte                // what each datagram read holds
}

func newUDPBatch(c *net.UDPConn, n, size int) (*udpBatch, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &udpBatch{rc: rc,
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
	return b, nil
}

// read waits for datagrams and reads as many as are queued, up to the
// batch size; datagram i is b.bufs[i][:b.len(i)] from b.source(i).
func (b *udpBatch) read() (int, error) {
	for i := range b.in {
		b.in[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		b.in[i].Hdr.Flags = 0
		b.in[i].Len = 0
	}
	var n int
	var serr error
	err := b.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.in[0])), uintptr(len(b.in)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			n = int(r)
		case unix.EAGAIN:
			return false // wait for the socket to be readable
		case unix.EINTR:
			return false
		default:
			serr = e
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	return n, serr
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
		var n int
		var serr error
		err := b.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.out[sent])), uintptr(k-sent), unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
				n = int(r)
			case unix.EAGAIN, unix.EINTR:
				return false
			default:
				serr = e
			}
			return true
		})
		if err != nil {
			return dropped, err
		}
		if serr != nil {
			if errors.Is(serr, unix.EBADF) {
				return dropped, net.ErrClosed
			}
			n = 1 // sendmmsg fails on the first datagram only: skip it
			dropped++
		}
		sent += max(n, 1)
	}
	return dropped, nil
}
