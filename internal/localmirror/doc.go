// Package localmirror runs a mirror network on loopback for tests and the
// demo: an origin and mirrors as real servers, each on its own 127.0.0.x
// address (clients such as apt keep failure state per host), serving a
// real-looking tree (a stamp file, rpm repodata/repomd.xml, deb InRelease
// and Release, a pacman core.db, ISO directories) and each with a chosen
// [Behaviour]: healthy, stale, partial, wrong metadata, 404, 500, reset,
// hang, slow body, huge body, redirect loop, redirect to a private or
// metadata address or to the origin, bad or expiring certificate, IPv6
// down, down, no DNS, a stamp ahead of the origin's, slow answers, an
// endless metadata file, and answers that carry a [Secret] a prober must
// never publish.
//
// Mirrors serve HTTP and HTTPS from memory, FTP with an in-process server
// (goftp.io/server) and rsync with the real rsync daemon, the last two
// from a copy of the tree on disk. Host names are <name>.mirrors.test;
// [Network.Hosts] gives their addresses (127.0.0.x, and ::1 for mirrors
// with IPv6), to be used as the prober's resolver. A mirror with IPv6
// listens on the same port on ::1; one whose IPv6 is down has ::1 in its
// host entry and nothing listening there.
//
// [Network.Inventory] writes the mirrors.toml of the network; it declares
// loopback in every mirror's probe_networks, since probe connects to
// global unicast addresses only unless told otherwise.
//
//	n, err := localmirror.Start(localmirror.Options{Mirrors: []localmirror.Spec{
//		{Behaviour: localmirror.Healthy, IPv6: true},
//		{Behaviour: localmirror.Stale, StaleBy: 30 * time.Hour},
//		{Behaviour: localmirror.Hang},
//	}})
//	defer n.Close()
//	os.WriteFile("mirrors.toml", []byte(n.Inventory()), 0o644)
//
// The origin publishes new versions with [Network.Publish]; mirrors copy
// it with [Server.Sync], so tests can make a mirror one version behind.
package localmirror
