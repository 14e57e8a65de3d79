// Package probe checks every mirror of an inventory and makes the state
// snapshot that gen, lookup and dnsd read.
//
// For each mirror, each protocol it declares (http, https, ftp, rsync) and
// each address family, [Run] resolves the host, keeps the addresses of the
// family (a literal 127.0.0.x or other IPv4 address is IPv4 only) and
// checks the endpoint over them: it reads the stamp file and, for every
// repository variant the mirror carries, the metadata file the origin has
// (rpm repodata/repomd.xml, deb dists/<release>/InRelease or Release, the
// pacman core.db), and compares its SHA-256 with the origin's recent
// versions. HTTP(S) goes through net/http with a dialer pinned to the
// family, FTP through github.com/jlaffaye/ftp, rsync through the rsync
// program (one batched copy per endpoint). Every connection goes to a
// global unicast address, or to a network the mirror declares in
// probe_networks; never to a link-local or cloud metadata address. What a
// server answers is hashed as it comes, never kept, and never quoted in
// an error.
//
// Inputs: the inventory, the previous snapshot (or nil) and a [Config]
// with the bounds: per-endpoint timeout, run deadline, global and
// per-host concurrency, retries with jitter, maximum body size. probe
// owns their ranges: [DefineFlags] makes the command-line flags and
// [Flags.ApplyFile] takes mirrors.toml's probe table over them,
// both held to the same ranges; [CheckFile] checks the table alone, for
// mirrorsteer check. Output: a
// validated *state.Snapshot merged with the previous one (hysteresis,
// last good time, the origin's metadata history) and a [Report] for the
// operator. A run that cannot read the origin returns an [*OriginError]
// and no snapshot.
//
// An endpoint is healthy when it answered and its stamp is within max_lag
// of the origin's and not ahead of it, after hysteresis: it leaves after
// LeaveAfter failed runs in a row and returns after ReturnAfter good
// ones. Staleness is never forgiven by hysteresis. README.md next to this file has the
// classification, the rules and an example run:
//
//	mirrorsteer probe -c mirrors.toml -o state.json
package probe
