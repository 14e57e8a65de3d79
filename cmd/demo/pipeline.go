package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

func init() {
	addStep(10, "network", startNetwork)
	addStep(20, "probe", runProbe)
	addStep(30, "gen", runGen)
	addStep(40, "lookups", runLookups)
}

// demoMirrors is the demo network: mostly good mirrors, and one of each
// kind of trouble the probe must see through.
func demoMirrors() []localmirror.Spec {
	files := []string{"http", "https", "ftp"}
	if _, err := exec.LookPath("rsync"); err == nil {
		files = append(files, "rsync")
	}
	return []localmirror.Spec{
		{Name: "mirror-de", Country: "DE", IPv6: true, Protocols: files},
		{Name: "mirror-fr", Country: "FR", IPv6: true, Protocols: []string{"http", "https"}},
		{Name: "mirror-nl", Country: "NL", Protocols: []string{"http", "ftp"}},
		{Name: "mirror-us", Country: "US", IPv6: true, Protocols: []string{"http", "https"}},
		{Name: "mirror-gb", Country: "GB", Behaviour: localmirror.ExpiringCert, Protocols: []string{"https"}},
		{Name: "mirror-jp", Country: "JP", Behaviour: localmirror.IPv6Down},
		{Name: "mirror-se", Country: "SE", Behaviour: localmirror.Stale, StaleBy: 30 * time.Hour},
		{Name: "mirror-ca", Country: "CA", Behaviour: localmirror.Partial},
		{Name: "mirror-br", Country: "BR", Behaviour: localmirror.WrongMetadata},
		{Name: "mirror-au", Country: "AU", Behaviour: localmirror.Hang},
		{Name: "mirror-za", Country: "ZA", Behaviour: localmirror.ServerError},
		{Name: "mirror-in", Country: "IN", Behaviour: localmirror.RedirectPrivate},
		{Name: "mirror-sg", Country: "SG", Behaviour: localmirror.BadCert, Protocols: []string{"https"}},
	}
}

func startNetwork(d *demo) error {
	n, err := localmirror.Start(localmirror.Options{
		Base:       netipMust("127.0.0.200"),
		Domain:     "demo.test",
		OriginIPv6: true,
		Mirrors:    demoMirrors(),
	})
	if err != nil {
		return err
	}
	d.Net = n
	d.onStop(n.Close)
	d.Config = filepath.Join(d.Dir, "mirrors.toml")
	// The demo's files are a few bytes; give every one a metalink.
	if err := fileio.WriteFile(d.Config, []byte(n.Inventory()+"\n[metalink]\nmin_size = 1\n"), 0o644); err != nil {
		return err
	}
	d.header("a local mirror network: origin and %d mirrors on 127.0.0.x (and ::1)", len(n.Mirrors()))
	fmt.Fprintf(d.Stdout, "%-10s %-16s %-16s %s\n", "mirror", "address", "behaviour", "protocols")
	for _, m := range n.Mirrors() {
		addr := m.Addr.String()
		if m.Spec().IPv6 {
			addr += " ::1"
		}
		var ps []string
		for _, p := range []string{"http", "https", "ftp", "rsync"} {
			if m.URLs[p] != "" {
				ps = append(ps, p)
			}
		}
		fmt.Fprintf(d.Stdout, "%-10s %-16s %-16s %v\n", m.Name(), addr, m.Behaviour(), ps)
	}
	fmt.Fprintf(d.Stdout, "inventory: %s\n", d.Config)
	return nil
}

func runProbe(d *demo) error {
	d.State = filepath.Join(d.Dir, "state.json")
	os.Remove(d.State) // a fresh start: the demo network is new every time
	d.header("probe every mirror, per protocol and address family (timeout 2s: the hanging mirror costs 2s)")
	args := append([]string{"probe", "-c", d.Config, "-o", d.State, "--timeout", "2s", "--ca-file", d.Net.CAFile()}, d.Net.ResolveFlags()...)
	return d.mirrorsteer(args...)
}

func runGen(d *demo) error {
	// gen hashes a local copy of the origin tree for the metalinks.
	d.Origin = filepath.Join(d.Dir, "origin")
	os.RemoveAll(d.Origin)
	for rel, data := range d.Net.Current().Files {
		p := filepath.Join(d.Origin, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	d.header("gen: mirror lists and metalinks from the snapshot into %s/", d.Out)
	return d.mirrorsteer("gen", "-c", d.Config, "-s", d.State, "-o", d.Out, "--origin-dir", d.Origin,
		"--hash-cache", filepath.Join(d.Dir, "hashes.json"))
}

func runLookups(d *demo) error {
	for _, l := range []struct {
		why  string
		args []string
	}{
		{"Germany: its own mirror first", []string{"--country", "DE"}},
		{"Japan over IPv6: mirror-jp's IPv6 is down, so it is not offered", []string{"--country", "JP", "--v6"}},
		{"Brazil, asking for baseos 9 x86_64: mirror-br's metadata is wrong, so it is not offered", []string{"--country", "BR", "--repo", "baseos", "--release", "9", "--arch", "x86_64"}},
		{"Canada, asking for debian stable: mirror-ca lacks the deb archive", []string{"--country", "CA", "--repo", "debian", "--release", "stable", "--arch", "amd64"}},
	} {
		d.header("lookup: %s", l.why)
		if err := d.mirrorsteer(append([]string{"lookup", "-c", d.Config, "-s", d.State}, l.args...)...); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.Stdout, "\n%s/ is written: try  cat %s/%s  or  less %s\n", d.Out, d.Out, layout.ListPath(&baseos9, inventory.IPv4, layout.CountryKey("DE")), d.State)
	return nil
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }
