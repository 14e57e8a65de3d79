package dnsd

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/geo/geotest"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// fixture is testdata/mirrors.toml served with the demo GeoIP databases
// and a snapshot in which everything is healthy but what edit changes.
type fixture struct {
	h    *Handler
	inv  *inventory.Inventory
	snap *state.Snapshot
	db   *geo.DB
	s    *Scratch
}

// loadInputs loads the inventory at path and its zone file, as the
// Loader does.
func loadInputs(t testing.TB, path string) Inputs {
	t.Helper()
	var in Inputs
	inv, err := inventory.Load(path, func(inv *inventory.Inventory) inventory.Errors {
		var errs inventory.Errors
		in.Records, errs = ReadZoneFile(inv)
		return errs
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Inventory = inv
	return in
}

func newFixture(t testing.TB, edit func(mirror string, e *state.Endpoint)) *fixture {
	t.Helper()
	in := loadInputs(t, "testdata/mirrors.toml")
	inv := in.Inventory
	city, asn, err := geotest.Write(t.TempDir(), geotest.Demo())
	if err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(city, asn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	snap := statetest.Healthy(inv, edit)
	in.Snapshot, in.GeoIP, in.HasCity, in.HasASN, in.Serial = snap, db, true, true, 2026112301
	z, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{h: NewHandler(z, nil), inv: inv, snap: snap, db: db, s: NewScratch()}
}

// down marks every endpoint of the named mirrors unhealthy.
func down(names ...string) func(string, *state.Endpoint) {
	return func(m string, e *state.Endpoint) {
		for _, n := range names {
			if m == n {
				e.Up, e.Healthy = false, false
			}
		}
	}
}

type opt func(*dns.Msg)

// ecs adds an EDNS Client Subnet option for prefix (e.g. "81.1.2.0/24").
func ecs(prefix string) opt {
	return func(m *dns.Msg) {
		p := netip.MustParsePrefix(prefix)
		o := m.IsEdns0()
		if o == nil {
			m.SetEdns0(4096, false)
			o = m.IsEdns0()
		}
		e := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: net.IP(p.Addr().AsSlice())}
		if p.Addr().Is6() {
			e.Family = 2
		}
		o.Option = append(o.Option, e)
	}
}

// edns adds an OPT record with the given payload size.
func edns(size uint16) opt { return func(m *dns.Msg) { m.SetEdns0(size, false) } }

func question(name string, qtype uint16, opts ...opt) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	for _, o := range opts {
		o(m)
	}
	return m
}

// ask sends m from src over tr and returns the decoded reply.
func (f *fixture) askOver(t testing.TB, m *dns.Msg, src string, tr Transport) *dns.Msg {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return f.askWire(t, wire, src, tr)
}

func (f *fixture) ask(t testing.TB, m *dns.Msg, src string) *dns.Msg {
	t.Helper()
	return f.askOver(t, m, src, UDP)
}

func (f *fixture) askWire(t testing.TB, wire []byte, src string, tr Transport) *dns.Msg {
	t.Helper()
	out := f.h.Serve(f.s, make([]byte, 0, 512), wire, netip.MustParseAddr(src), tr)
	if out == nil {
		t.Fatal("no reply")
	}
	r := new(dns.Msg)
	if err := r.Unpack(out); err != nil {
		t.Fatalf("reply does not parse: %v\n% x", err, out)
	}
	return r
}

// target returns the CNAME target of the first answer, or "".
func target(r *dns.Msg) string {
	if len(r.Answer) == 0 {
		return ""
	}
	if c, ok := r.Answer[0].(*dns.CNAME); ok {
		return c.Target
	}
	return ""
}

// scope returns the reply's ECS scope, or -1 when it has no ECS option.
func scope(r *dns.Msg) int {
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if s, ok := e.(*dns.EDNS0_SUBNET); ok {
				return int(s.SourceScope)
			}
		}
	}
	return -1
}
