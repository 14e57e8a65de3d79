package geo

import (
	"syscall"
	"unsafe"
)

// bigCopy returns a copy of s in memory of its own, outside the Go heap,
// backed by huge pages where the kernel allows it (MADV_HUGEPAGE), and
// the function that frees it. T must hold no pointers.
//
// An Index's tables are tens of MiB read at random, one query at a time:
// with 4 KiB pages nearly every lookup also misses the TLB and walks the
// page table, a second trip to memory. With 2 MiB pages the table's
// translations stay in the TLB. Outside the heap, the garbage collector
// never scans them, and a reload does not double the heap it paces by.
func bigCopy[T any](s []T) ([]T, func()) {
	size := len(s) * int(unsafe.Sizeof(*new(T)))
	if size < 1<<21 {
		return s, func() {}
	}
	const huge = 1 << 21
	size = (size + huge - 1) &^ (huge - 1)
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return s, func() {}
	}
	_ = syscall.Madvise(mem, 14) // MADV_HUGEPAGE; without it, small pages
	out := unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), len(s))
	copy(out, s)
	return out, func() { _ = syscall.Munmap(mem) }
}
