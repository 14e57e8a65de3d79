package dnsd

import (
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// nameOf returns a name of n octets in wire form (n >= 3): labels of
// letter under suffix, "." or a fully qualified name.
func nameOf(n int, letter, suffix string) string {
	n-- // the root
	if suffix == "." {
		suffix = ""
	} else {
		n -= len(suffix) // "example.org." is 12 characters, 12 octets and the root
	}
	var labels []string
	for n > 0 {
		l := min(n, 64) // a length octet and up to 63
		if n-l == 1 {   // leave at least 2 for the last label
			l--
		}
		labels = append(labels, strings.Repeat(letter, l-1))
		n -= l
	}
	return strings.Join(labels, ".") + "." + suffix
}

func TestNameOf(t *testing.T) {
	for _, n := range []int{3, 4, 64, 65, 66, 200, 245, 248, 255, 256} {
		for _, suffix := range []string{".", "example.org."} {
			if n < 15 && suffix != "." {
				continue
			}
			b := make([]byte, 512)
			got, err := dns.PackDomainName(nameOf(n, "a", suffix), b, 0, nil, false)
			if err != nil || got != n {
				t.Errorf("nameOf(%d, %q) is %d octets: %v", n, suffix, got, err)
			}
		}
	}
}

// A name dnsd makes from the inventory that is longer than DNS allows
// (255 octets) is a Compile error naming the key to change, never a
// panic nor a malformed reply. The inventory is edited after loading:
// these are dnsd's own checks, whatever the loader lets through.
func TestCompileRefusesNamesTooLong(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Inputs)
		want string // in the error
	}{
		{"a zone of 248 octets: download.<zone> is 257", zone(nameOf(248, "z", ".")), "[dns] names: download"},
		{"a zone of 247 octets: download.<zone> is 256", zone(nameOf(247, "z", ".")), "[dns] names: download"},
		{"a zone of 246 octets: download.<zone> is 255, download-http.<zone> 260", zone(nameOf(246, "z", ".")), "[dns] names: download-http"},
		{"a zone of 245 octets: the default hostmaster.<zone> is 256", func(in *Inputs) {
			zone(nameOf(245, "z", "."))(in)
			in.Inventory.DNS.Names = in.Inventory.DNS.Names[2:] // pub and sync fit
		}, "[dns] hostmaster"},
		{"an explicit hostmaster of 256 octets", func(in *Inputs) { in.Inventory.DNS.Hostmaster = nameOf(256, "h", ".") }, "[dns] hostmaster"},
		{"a name server of 256 octets", func(in *Inputs) { in.Inventory.DNS.NS[0].Name = nameOf(256, "n", "example.org.") }, "[dns] ns"},
		{"a fallback of 256 octets", func(in *Inputs) { in.Inventory.DNS.Fallback = nameOf(256, "f", ".") }, "[dns] fallback"},
		{"a mirror host of 256 octets", func(in *Inputs) {
			in.Inventory.Mirrors[0].URLs[inventory.HTTPS] = "https://" + strings.TrimSuffix(nameOf(256, "m", "."), ".") + "/pub/"
		}, `[[mirror]] "de1.example.net"`},
		{"a zone file record of 256 octets", func(in *Inputs) {
			rr, err := dns.NewRR(nameOf(256, "r", "example.org.") + " 60 IN A 192.0.2.1")
			if err != nil {
				panic(err)
			}
			in.Records = append(in.Records, rr)
		}, "example.org.zone"},
		{"a zone file CNAME to a target of 256 octets", func(in *Inputs) {
			rr := &dns.CNAME{Hdr: dns.RR_Header{Name: "long.example.org.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: nameOf(256, "t", ".")}
			in.Records = append(in.Records, rr)
		}, "example.org.zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := loadInputs(t, "testdata/mirrors.toml")
			tt.edit(&in)
			z, err := Compile(in)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "255") {
				t.Fatalf("Compile: zone %v, error %v; want an error about %s and the 255 octets", z != nil, err, tt.want)
			}
			t.Log(err)
		})
	}
}

// zone moves the test inputs to another zone (moveZone) and drops the
// zone file's records, which are relative to the old one.
func zone(name string) func(*Inputs) {
	return func(in *Inputs) {
		moveZone(in.Inventory, name)
		in.Records = nil
	}
}

// moveZone moves inv to another zone, with its name servers and
// hostmaster.
func moveZone(inv *inventory.Inventory, name string) {
	d := inv.DNS
	d.Zone, d.Hostmaster = name, "hostmaster."+name
	d.NS = []inventory.NameServer{{Name: "ns.example.net."}}
}

// Names of exactly 255 octets are served, and every reply decodes.
func TestCompileNamesOf255Octets(t *testing.T) {
	in := loadInputs(t, "testdata/mirrors.toml")
	inv := in.Inventory
	z := nameOf(255-len("\x0ddownload-http"), "z", ".")
	zone(z)(&in)
	inv.DNS.Hostmaster = nameOf(255, "h", ".")
	inv.DNS.Fallback = nameOf(255, "f", ".")
	for _, m := range inv.Mirrors {
		m.URLs[inventory.HTTPS] = "https://" + strings.TrimSuffix(nameOf(255, "m", "."), ".") + "/pub/"
	}
	zn, err := Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(zn, nil)
	for _, q := range []*dns.Msg{
		question("download-http."+z, dns.TypeA),
		question("download."+z, dns.TypeA, ecs("81.1.2.0/24")),
		question("nope."+z, dns.TypeA),
		question(z, dns.TypeSOA),
		question("_whoami."+z, dns.TypeTXT),
	} {
		b, _ := q.Pack()
		out := h.Serve(NewScratch(), nil, b, netip.MustParseAddr("127.0.0.1"), TCP)
		var r dns.Msg
		if err := r.Unpack(out); err != nil || r.Rcode == dns.RcodeServerFailure || r.Rcode == dns.RcodeFormatError {
			t.Errorf("%s: %v %v", q.Question[0].Name[:20], err, &r)
		}
	}
}

// A zone keeps a record per mirror and, signed, an RRSIG per RRset:
// each must hold its own octets, not the packing buffer it was made in
// (512 octets longer), or a zone of 4,000 mirrors takes twice the heap.
func TestRecordsTakeTheirOwnSize(t *testing.T) {
	rr := &dns.CNAME{Hdr: dns.RR_Header{Name: "download.example.org.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "mirror.example.net."}
	const n = 10000
	kept := make([][]byte, n)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for i := range kept {
		b, err := blob(rr)
		if err != nil {
			t.Fatal(err)
		}
		kept[i] = b
	}
	per := float64(heap()-before) / n
	runtime.KeepAlive(kept)
	if per > 64 {
		t.Errorf("a record of %d octets keeps %.0f octets of heap", len(kept[0]), per)
	}
}
