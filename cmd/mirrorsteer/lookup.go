package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
)

func runLookup(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	config := fs.String("c", "mirrors.toml", "the inventory `file`")
	statePath := fs.String("s", "", "the state snapshot `file`; without it every declared mirror counts as healthy")
	cityDB := fs.String("geoip-city", "", "MaxMind City or Country database (`mmdb`) to locate --ip")
	asnDB := fs.String("geoip-asn", "", "MaxMind ASN database (`mmdb`) to find the ASN of --ip")
	ipFlag := fs.String("ip", "", "the client's IP `address`; located with the GeoIP databases")
	ccFlag := fs.String("country", "", "the client's country (ISO 3166-1 alpha-2 `code`), instead of --ip")
	asnFlag := fs.String("asn", "", "the client's AS `number` (3320 or AS3320), instead of --ip; may go with --country")
	v6 := fs.Bool("v6", false, "the client uses IPv6 (implied by an IPv6 --ip)")
	repo := fs.String("repo", "", "the `repository` asked for; without it, the mirror itself (as dnsd names do)")
	release := fs.String("release", "", "the `release` of --repo (may be left out when the repo has one)")
	arch := fs.String("arch", "", "the `arch` of --repo (may be left out when the repo has one)")
	name := fs.String("name", "", "a [dns] name `label` (download): the mirrors dnsd answers that name from, over its protocol")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	report := fs.String("report", "", "a `file` of client addresses, one a line (# starts a comment): print the policy's quality report over them (see bench/README.md)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *report != "" {
		if *ipFlag != "" || *ccFlag != "" || *asnFlag != "" || *asJSON || *v6 {
			return usagef("--report takes its clients from the file; leave out --ip, --country, --asn, --v6 and --json")
		}
		if *cityDB == "" && *asnDB == "" {
			return usagef("--report locates its clients with --geoip-city and --geoip-asn; give at least one")
		}
	} else if *ipFlag == "" && *ccFlag == "" && *asnFlag == "" {
		return usagef("say who the client is: --ip ADDR, or --country CC and/or --asn N")
	}
	if *ipFlag != "" && (*ccFlag != "" || *asnFlag != "") {
		return usagef("--ip locates the client itself; leave out --country and --asn, or leave out --ip")
	}
	c := policy.Client{}
	if *v6 {
		c.Family = inventory.IPv6
	}
	if *ccFlag != "" {
		cc, err := country.Parse(*ccFlag)
		if err != nil {
			return usagef("--country: %v", err)
		}
		c.Country = cc
	}
	if *asnFlag != "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(*asnFlag), "AS"), 10, 32)
		if err != nil || n == 0 {
			return usagef("--asn %q is not an AS number; write e.g. 3320 or AS3320", *asnFlag)
		}
		c.ASN = uint32(n)
	}
	var geoInfo *geo.Info
	if *ipFlag != "" {
		a, err := netip.ParseAddr(*ipFlag)
		if err != nil {
			return usagef("--ip %q is not an IP address", *ipFlag)
		}
		if a.Zone() != "" {
			// A zone names a link on this machine: it says nothing of
			// where a client is, and GeoIP ignores it.
			return usagef("--ip %q has a zone (%%%s); give the address without it", *ipFlag, a.Zone())
		}
		a = a.Unmap()
		db, err := geo.Open(*cityDB, *asnDB)
		if err != nil {
			return err
		}
		defer db.Close()
		info := db.Lookup(a)
		geoInfo = &info
		c = addrClient(a, info)
	} else if *report == "" {
		c.Key = policy.KeyString(clientName(c))
	}

	inv, snap, err := loadInputs(*config, *statePath, stderr)
	if err != nil {
		return err
	}
	if err := locateMirrors(inv, snap, *cityDB, stderr); err != nil {
		return err
	}
	want, err := wantFor(inv, *repo, *release, *arch)
	if err != nil {
		return err
	}
	if *name != "" {
		if *repo != "" {
			return usagef("--name asks what dnsd answers, --repo what a list holds; give one of them")
		}
		p, ok := dnsName(inv, *name)
		if !ok {
			return usagef("--name %q is not in [dns] names of %s", *name, inv.File)
		}
		want = policy.Want{Protocols: []inventory.Protocol{p}, DNSName: strings.ToLower(*name)}
	}
	if *report != "" {
		db, err := geo.Open(*cityDB, *asnDB)
		if err != nil {
			return err
		}
		defer db.Close()
		return runReport(stdout, *report, inv, snap, want, db)
	}
	choices := policy.NewSet(inv, snap, want).Select(c)
	var path string
	if want.Variant != nil {
		path = want.Variant.Path()
	}
	rows := make([]lookupRow, len(choices))
	for i, ch := range choices {
		rows[i] = lookupRow{Rank: i + 1, Mirror: ch.Mirror.Name, Country: ch.Mirror.Country, Reason: ch.Reason.String(), URL: ch.URL() + path}
		if ch.DistanceKm >= 0 {
			d := math.Round(ch.DistanceKm)
			rows[i].DistanceKm = &d
		}
	}
	if *asJSON {
		doc := struct {
			Client   lookupClient `json:"client"`
			Repo     string       `json:"repo,omitempty"`
			Release  string       `json:"release,omitempty"`
			Arch     string       `json:"arch,omitempty"`
			Verified bool         `json:"verified"`
			Mirrors  []lookupRow  `json:"mirrors"`
		}{Client: describeClient(c, geoInfo), Verified: snap != nil, Mirrors: rows}
		if v := want.Variant; v != nil {
			doc.Repo, doc.Release, doc.Arch = v.Repo.Name, v.Release, v.Arch
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	dc := describeClient(c, geoInfo)
	fmt.Fprintf(stdout, "client: %s\n", dc.text())
	if want.Variant != nil {
		fmt.Fprintf(stdout, "wants:  %s\n", strings.Join(strings.Fields(want.Variant.Repo.Name+" "+want.Variant.Release+" "+want.Variant.Arch), " "))
	}
	if snap == nil {
		fmt.Fprintln(stdout, "health: NOT VERIFIED (no -s state.json): every declared mirror counts as healthy")
	} else {
		fmt.Fprintf(stdout, "health: %s, taken %s\n", *statePath, snap.Taken.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if len(rows) == 0 {
		fmt.Fprintf(stdout, "\nno healthy mirror for this client: lists give the origin, %s\n", inv.Network.Origin+path)
		return nil
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tmirror\tcc\treason\tdistance\turl")
	for _, r := range rows {
		d := "-"
		if r.DistanceKm != nil {
			d = fmt.Sprintf("%.0f km", *r.DistanceKm)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Rank, r.Mirror, r.Country, r.Reason, d, r.URL)
	}
	return tw.Flush()
}

// addrClient is what the policy knows of a client at a, located by info:
// the same client dnsd builds for a query from a.
func addrClient(a netip.Addr, info geo.Info) policy.Client {
	return policy.Client{
		Addr: a, Family: inventory.FamilyOf(a),
		Country: info.Country, Continent: info.Continent, ASN: info.ASN,
		Coord: info.Coord, HasCoord: info.HasCoord,
		Key: policy.KeyAddr(a, a.BitLen()),
	}
}

type lookupRow struct {
	Rank       int          `json:"rank"`
	Mirror     string       `json:"mirror"`
	Country    country.Code `json:"country"`
	Reason     string       `json:"reason"`
	DistanceKm *float64     `json:"distance_km,omitempty"`
	URL        string       `json:"url"`
}

type lookupClient struct {
	IP        string            `json:"ip,omitempty"`
	Family    string            `json:"family"`
	Country   country.Code      `json:"country,omitempty"`
	Continent country.Continent `json:"continent,omitempty"`
	ASN       uint32            `json:"asn,omitempty"`
	ASOrg     string            `json:"as_org,omitempty"`
	Lat       *float64          `json:"lat,omitempty"`
	Lon       *float64          `json:"lon,omitempty"`
}

func describeClient(c policy.Client, info *geo.Info) lookupClient {
	d := lookupClient{Family: c.Family.String(), Country: c.Country, Continent: c.Continent, ASN: c.ASN}
	if d.Continent == "" {
		d.Continent = c.Country.Continent()
	}
	if c.Addr.IsValid() {
		d.IP = c.Addr.String()
	}
	if info != nil {
		d.ASOrg = info.ASOrg
	}
	if c.HasCoord {
		lat, lon := c.Coord.Lat, c.Coord.Lon
		d.Lat, d.Lon = &lat, &lon
	}
	return d
}

func (d lookupClient) text() string {
	var parts []string
	if d.IP != "" {
		parts = append(parts, d.IP)
	}
	parts = append(parts, "("+d.Family+")")
	if d.Country != "" {
		parts = append(parts, "country "+string(d.Country))
	} else if d.IP != "" {
		parts = append(parts, "country unknown")
	}
	if d.Continent != "" {
		parts = append(parts, "continent "+string(d.Continent))
	}
	if d.ASN != 0 {
		as := fmt.Sprintf("AS%d", d.ASN)
		if d.ASOrg != "" {
			as += " (" + d.ASOrg + ")"
		}
		parts = append(parts, as)
	}
	if d.Lat != nil {
		parts = append(parts, fmt.Sprintf("at %.2f,%.2f", *d.Lat, *d.Lon))
	}
	return strings.Join(parts, " ")
}

// clientName is the name a static list for such a client has, so lookup
// --country DE gives exactly the order of DE.txt.
func clientName(c policy.Client) string {
	if c.ASN != 0 && c.Country != "" {
		return layout.ASNKey(c.ASN, c.Country).String()
	}
	if c.ASN != 0 {
		return fmt.Sprintf("AS%d", c.ASN)
	}
	return string(c.Country)
}

// dnsName returns the protocol of the [dns] name label.
func dnsName(inv *inventory.Inventory, label string) (inventory.Protocol, bool) {
	if inv.DNS == nil {
		return "", false
	}
	for _, n := range inv.DNS.Names {
		if n.Label == strings.ToLower(label) {
			return n.Protocol, true
		}
	}
	return "", false
}

// wantFor turns --repo/--release/--arch into a policy.Want.
func wantFor(inv *inventory.Inventory, repo, release, arch string) (policy.Want, error) {
	if repo == "" {
		if release != "" || arch != "" {
			return policy.Want{}, usagef("--release and --arch need --repo")
		}
		return policy.Want{}, nil
	}
	r := inv.Repo(repo)
	if r == nil {
		var names []string
		for _, r := range inv.Repos {
			names = append(names, r.Name)
		}
		return policy.Want{}, usagef("--repo %q is not in %s; it has %s", repo, inv.File, strings.Join(names, ", "))
	}
	pick := func(flagName, got string, have []string) (string, error) {
		if got == "" && len(have) <= 1 {
			if len(have) == 1 {
				return have[0], nil
			}
			return "", nil
		}
		for _, h := range have {
			if h == got {
				return got, nil
			}
		}
		if len(have) == 0 {
			return "", usagef("repo %q has no %ss; leave out --%s", repo, flagName, flagName)
		}
		return "", usagef("repo %q has %ss %s; pick one with --%s", repo, flagName, strings.Join(have, ", "), flagName)
	}
	rel, err := pick("release", release, r.Releases)
	if err != nil {
		return policy.Want{}, err
	}
	a, err := pick("arch", arch, r.Archs)
	if err != nil {
		return policy.Want{}, err
	}
	return policy.Want{Variant: &inventory.Variant{Repo: r, Release: rel, Arch: a}}, nil
}
