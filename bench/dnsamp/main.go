// Command dnsamp measures how much a dnsd amplifies: the bytes of a reply
// over the bytes of the query that asked for it, as a spoofer using dnsd
// as a reflector sees it.
//
//	dnsamp -c mirrors.toml -s 127.0.0.1:5353 -table
//	dnsamp -c mirrors.toml -s 127.0.0.1:5353 -flood 10000 -rate 2000 -from 127.0.0.2 [-target 127.0.0.1:5354]
//
// -table sends, for every name dnsd serves in the [dns] zone of the
// inventory (the apex, the name servers, every steered name, one
// preference name per mirror label, a name that does not exist, one
// outside the zone) and every type (A, AAAA, CNAME, NS, SOA, MX, TXT,
// ANY), the smallest query that asks for it, without EDNS, with EDNS
// (payload 1232), and with EDNS and a client cookie, and prints the
// largest reply/query ratios. _whoami is left out: dnsd refuses it to
// any source but loopback and [dns] whoami.
//
// -flood sends the query of the largest ratio N times from one address
// at a given rate to -target (default: -s; the ratios are measured on
// -s), as a spoofed flood would, and prints the bytes that
// came back over the bytes sent: with response rate limiting, what the
// victim of the reflection receives.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/dnsd"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

func main() {
	config := flag.String("c", "mirrors.toml", "the inventory `file` dnsd serves")
	server := flag.String("s", "", "dnsd's `host:port`")
	table := flag.Bool("table", false, "print the largest reply/query ratios")
	flood := flag.Int("flood", 0, "send the query of the largest ratio `N` times")
	rate := flag.Int("rate", 2000, "queries a second of the flood")
	from := flag.String("from", "127.0.0.2", "the flood's source `address`")
	target := flag.String("target", "", "the dnsd to flood, `host:port` (default: -s)")
	flag.Parse()
	if *target == "" {
		*target = *server
	}
	if err := run(*config, *server, *target, *table, *flood, *rate, *from); err != nil {
		fmt.Fprintln(os.Stderr, "dnsamp:", err)
		os.Exit(1)
	}
}

// probe is one query and the size of its reply.
type probe struct {
	name    string
	qtype   uint16
	variant string
	query   []byte
	reply   int
}

func (p probe) ratio() float64 { return float64(p.reply) / float64(len(p.query)) }

func run(config, server, target string, table bool, flood, rate int, from string) error {
	if server == "" {
		return errors.New("say which dnsd: -s 127.0.0.1:5353")
	}
	inv, err := inventory.Load(config)
	if err != nil {
		return err
	}
	if inv.DNS == nil {
		return fmt.Errorf("%s has no [dns] table", config)
	}
	probes, err := measure(inv, server)
	if err != nil {
		return err
	}
	slices.SortStableFunc(probes, func(a, b probe) int {
		switch {
		case a.ratio() > b.ratio():
			return -1
		case a.ratio() < b.ratio():
			return 1
		}
		return 0
	})
	if table {
		fmt.Printf("%d queries (%d names × %d types × 3 forms); the largest reply/query ratios:\n", len(probes), len(probes)/8/3, 8)
		for _, p := range probes[:min(8, len(probes))] {
			fmt.Printf("  %5.2f  %-40s %-5s %-18s query %3d B, reply %4d B\n", p.ratio(), p.name, dns.TypeToString[p.qtype], p.variant, len(p.query), p.reply)
		}
	}
	if flood > 0 {
		return floodWith(probes[0], target, flood, rate, from)
	}
	return nil
}

// names are what dnsd serves in the zone of inv.
func names(inv *inventory.Inventory) []string {
	z := inv.DNS.Zone
	out := []string{z}
	for _, ns := range inv.DNS.NS {
		out = append(out, ns.Name)
	}
	records, _ := dnsd.ReadZoneFile(inv) // check refused a bad one already
	for _, r := range records {
		out = append(out, r.Header().Name)
	}
	for _, n := range inv.DNS.Names {
		out = append(out, n.Label+"."+z)
		for _, m := range inv.Mirrors {
			if m.Label != "" && slices.Contains(m.DNS, n.Label) {
				out = append(out, m.Label+"."+n.Label+"."+z)
			}
		}
	}
	out = append(out, "nx."+z, "example.")
	slices.Sort(out)
	return slices.Compact(out)
}

func measure(inv *inventory.Inventory, server string) ([]probe, error) {
	c, err := net.Dial("udp", server)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var probes []probe
	buf := make([]byte, 65535)
	for _, name := range names(inv) {
		for _, t := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeTXT, dns.TypeANY} {
			for _, variant := range []string{"no EDNS", "EDNS", "EDNS, client cookie"} {
				m := new(dns.Msg)
				m.SetQuestion(name, t)
				m.RecursionDesired = false
				if variant != "no EDNS" {
					m.SetEdns0(1232, false)
				}
				if variant == "EDNS, client cookie" {
					m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "2464c4abcf10c957"})
				}
				q, err := m.Pack()
				if err != nil {
					return nil, err
				}
				if _, err := c.Write(q); err != nil {
					return nil, err
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					return nil, fmt.Errorf("%s %s (%s): %w", name, dns.TypeToString[t], variant, err)
				}
				probes = append(probes, probe{name, t, variant, q, n})
			}
		}
	}
	return probes, nil
}

// floodWith sends p's query n times from one address at rate a second
// and counts what comes back.
func floodWith(p probe, server string, n, rate int, from string) error {
	raddr, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return err
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadBuffer(8 << 20)
	type counts struct{ replies, slipped, bytes int }
	got := make(chan counts)
	go func() {
		var k counts
		buf := make([]byte, 65535)
		for {
			c.SetReadDeadline(time.Now().Add(time.Second))
			m, _, err := c.ReadFromUDP(buf)
			if err != nil {
				got <- k
				return
			}
			k.replies++
			k.bytes += m
			// Slipped: no records but the OPT (TC, or BADCOOKIE).
			if m >= 12 && buf[6]|buf[7]|buf[8]|buf[9] == 0 && buf[10] == 0 && buf[11] <= 1 {
				k.slipped++
			}
		}
	}()
	start := time.Now()
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
			time.Sleep(d)
		}
		if _, err := c.WriteToUDP(p.query, raddr); err != nil {
			return err
		}
	}
	k := <-got
	in := n * len(p.query)
	fmt.Printf("flood of %d × %s %s (%s, %d B) from %s at %d/s: %d replies (%d slipped), %d B back for %d B sent: amplification %.2f\n",
		n, p.name, dns.TypeToString[p.qtype], p.variant, len(p.query), from, rate, k.replies, k.slipped, k.bytes, in, float64(k.bytes)/float64(in))
	return nil
}
