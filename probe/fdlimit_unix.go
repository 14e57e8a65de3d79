//go:build unix

package probe

import "syscall"

// openFileLimit is the process's limit on open files, 0 when unknown.
// Go raises the soft limit to the hard one when a program starts (Go
// 1.19 and later, package syscall), so this is what the system allows.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return uint64(l.Cur)
}
