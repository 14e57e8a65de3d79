package probe_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// netnsEnv marks the copy of the test binary that runs inside the network
// namespace.
const netnsEnv = "MIRRORSTEER_PROBE_IN_NETNS"

// TestNeverReachesMetadataOrPrivateAddresses puts a cloud metadata
// service (169.254.169.254, fd00:ec2::254) and private servers (10.x) on
// the loopback interface of a network namespace of its own, where nothing
// else is reachable, and points mirrors at them: by their own DNS (a real
// DNS server over UDP), by --resolve, by redirects, over http, ftp and
// rsync. Nothing may connect there, except to the one private network a
// mirror declares in probe_networks.
func TestNeverReachesMetadataOrPrivateAddresses(t *testing.T) {
	if os.Getenv(netnsEnv) == "" {
		// Run this test alone again, in a new user and network namespace:
		// the addresses exist nowhere else.
		cmd := exec.Command("unshare", "-rn", os.Args[0], "-test.run=^TestNeverReachesMetadataOrPrivateAddresses$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the test in a network namespace (unshare from util-linux, ip from iproute2) failed: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestNeverReachesMetadataOrPrivateAddresses") {
			t.Fatalf("the test did not run in the namespace:\n%s", out)
		}
		return
	}
	inIsolatedNamespace(t)
}

// A trap is a server where no probe may connect: it counts connections
// and answers every HTTP request with the secret.
type trap struct {
	addr  netip.Addr
	conns atomic.Int64
}

type countingListener struct {
	net.Listener
	t *trap
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.t.conns.Add(1)
	}
	return c, err
}

func inIsolatedNamespace(t *testing.T) {
	haveRsync(t)
	var (
		metadata   = netip.MustParseAddr("169.254.169.254")
		metadata6  = netip.MustParseAddr("fd00:ec2::254")
		private    = netip.MustParseAddr("10.20.0.6")    // nobody declares it
		declared   = netip.MustParseAddr("10.20.0.5")    // declared-private declares it
		redirected = netip.MustParseAddr("10.255.255.1") // where redirect-private points
		public     = netip.MustParseAddr("8.8.8.8")      // no route in the namespace
	)
	ip := [][]string{{"link", "set", "lo", "up"}}
	for _, a := range []netip.Addr{metadata, private, declared, redirected} {
		ip = append(ip, []string{"addr", "add", a.String() + "/32", "dev", "lo"})
	}
	ip = append(ip, []string{"-6", "addr", "add", metadata6.String() + "/128", "dev", "lo", "nodad"})
	for _, args := range ip {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	traps := map[netip.Addr]*trap{}
	for _, a := range []netip.Addr{metadata, metadata6, private, declared, redirected} {
		tr := &trap{addr: a}
		l, err := net.Listen("tcp", netip.AddrPortFrom(a, 80).String())
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, localmirror.Secret)
		})}
		go srv.Serve(countingListener{l, tr})
		t.Cleanup(func() { srv.Close() })
		traps[a] = tr
	}

	// The hostile mirrors' own DNS.
	zone := map[string][]netip.Addr{
		"dns-metadata.hostile.test.":     {metadata},
		"dns-metadata-v6.hostile.test.":  {metadata6},
		"dns-private.hostile.test.":      {private},
		"dns-mixed.hostile.test.":        {public, private},
		"declared-private.hostile.test.": {declared},
		"other-loopback.hostile.test.":   {metadata},
	}
	resolver := dnsServer(t, zone)

	n, err := localmirror.Start(localmirror.Options{Mirrors: []localmirror.Spec{
		{Name: "healthy"},
		{Behaviour: localmirror.RedirectMetadata},
		{Behaviour: localmirror.RedirectPrivate},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	hostile := func(name, networks string, protos ...string) string {
		s := fmt.Sprintf("\n[[mirror]]\nname = %q\ncountry = \"DE\"\n", name)
		for _, p := range protos {
			port := ""
			if p != "http" {
				port = ":80"
			}
			s += fmt.Sprintf("%s = \"%s://%s.hostile.test%s/pub/\"\n", p, p, name, port)
		}
		if networks != "" {
			s += "probe_networks = " + networks + "\n"
		}
		return s
	}
	doc := n.Inventory() +
		hostile("dns-metadata", `["127.0.0.0/8", "::1/128"]`, "http", "ftp", "rsync") +
		hostile("dns-metadata-v6", `["127.0.0.0/8", "::1/128"]`, "http") +
		hostile("dns-private", "", "http", "ftp", "rsync") +
		hostile("dns-mixed", "", "http") +
		hostile("declared-private", `["10.20.0.5/32"]`, "http") +
		hostile("resolve-metadata", `["127.0.0.0/8"]`, "http")
	inv, err := inventory.Parse("hostile.toml", []byte(doc), ".")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc)
	}
	hosts := n.Hosts()
	hosts["resolve-metadata.hostile.test"] = []netip.Addr{metadata} // as --resolve would
	cfg := probe.Defaults()
	cfg.Timeout = timeout
	cfg.RetryDelay = 0
	cfg.Resolver = &probe.StaticResolver{Hosts: hosts, Next: resolver}
	snap, _, err := probe.Run(context.Background(), inv, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}

	for _, a := range []netip.Addr{metadata, metadata6, private, redirected} {
		if got := traps[a].conns.Load(); got != 0 {
			t.Errorf("the probe connected %d times to %s", got, a)
		}
	}
	if traps[declared].conns.Load() == 0 {
		t.Errorf("the probe never reached %s, which declared-private declares", declared)
	}
	forbidden := state.ClassForbiddenAddress
	for _, c := range []struct {
		mirror string
		proto  state.Protocol
		family state.Family
		class  state.Class
	}{
		{"dns-metadata", "http", state.IPv4, forbidden},
		{"dns-metadata", "ftp", state.IPv4, forbidden},
		{"dns-metadata", "rsync", state.IPv4, forbidden},
		{"dns-metadata-v6", "http", state.IPv6, forbidden},
		{"dns-private", "http", state.IPv4, forbidden},
		{"dns-private", "ftp", state.IPv4, forbidden},
		{"dns-private", "rsync", state.IPv4, forbidden},
		{"dns-mixed", "http", state.IPv4, "unreachable"},
		{"resolve-metadata", "http", state.IPv4, forbidden},
		{"redirect-metadata", "http", state.IPv4, forbidden},
		{"redirect-private", "http", state.IPv4, forbidden},
		{"declared-private", "http", state.IPv4, "protocol"}, // reached: its stamp is the secret
		{"healthy", "http", state.IPv4, ""},
	} {
		e := snap.Endpoint(c.mirror, c.proto, c.family)
		if e == nil || e.Class != c.class {
			t.Errorf("%s %s %s: %+v, want class %q", c.mirror, c.proto, c.family, e, c.class)
			continue
		}
		if strings.Contains(e.Error, localmirror.Secret) {
			t.Errorf("%s %s %s: the error publishes the answer: %s", c.mirror, c.proto, c.family, e.Error)
		}
	}
	if e := snap.Endpoint("dns-metadata", "http", state.IPv4); !strings.Contains(e.Error, "169.254.169.254") || !strings.Contains(e.Error, "cloud metadata") {
		t.Errorf("dns-metadata: error %q does not name the address and what it is", e.Error)
	}
	if e := snap.Endpoint("dns-private", "http", state.IPv4); !strings.Contains(e.Error, "probe_networks") {
		t.Errorf("dns-private: error %q does not say how to allow a private mirror", e.Error)
	}
}

// dnsServer answers A and AAAA queries for zone over UDP on loopback and
// returns a resolver that asks it and nothing else.
func dnsServer(t *testing.T, zone map[string][]netip.Addr) probe.Resolver {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		mu.Lock()
		as, ok := zone[strings.ToLower(q.Question[0].Name)]
		mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range as {
			hdr := dns.RR_Header{Name: q.Question[0].Name, Class: dns.ClassINET, Ttl: 60}
			switch {
			case q.Question[0].Qtype == dns.TypeA && a.Is4():
				hdr.Rrtype = dns.TypeA
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.AsSlice()})
			case q.Question[0].Qtype == dns.TypeAAAA && a.Is6():
				hdr.Rrtype = dns.TypeAAAA
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}
