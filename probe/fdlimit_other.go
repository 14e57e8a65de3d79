//go:build !unix

package probe

// openFileLimit is unknown here: the configured concurrency stands.
func openFileLimit() uint64 { return 0 }
