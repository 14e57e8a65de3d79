package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/geo"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

func runLookup(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	config := fs.String("c", "mirrors.toml", "the inventory `file`")
	statePath := fs.String("s", "", "the state snapshot `file`; without it every declared mirror counts as healthy")
	cityDB := fs.String("geoip-city", "", "MaxMind City or Country database (`mmdb`) to locate --ip")
	asnDB := fs.String("geoip-asn", "", "MaxMind ASN database (`mmdb`) to find the ASN of --ip")
	ipFlag := fs.String("ip", "", "the client's IP `address`; located with the GeoIP databases")
	listFlag := fs.String("list", "", "a list's `key` as gen names its files (global, DE, AS3320-DE, US-CA): print exactly the list gen writes under it")
	ccFlag := fs.String("country", "", "the client's country (ISO 3166-1 alpha-2 `code`), as an edge knows it: print the list an edge serves it")
	asnFlag := fs.String("asn", "", "the client's AS `number` (3320 or AS3320), as an edge knows it; goes with --country")
	subFlag := fs.String("subdivision", "", "the client's subdivision (ISO 3166-2 `code`, US-CA), as an edge knows it from GeoIP City; sets --country")
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
		if *ipFlag != "" || *listFlag != "" || *ccFlag != "" || *asnFlag != "" || *subFlag != "" || *asJSON || *v6 {
			return usagef("--report takes its clients from the file; leave out --ip, --list, --country, --subdivision, --asn, --v6 and --json")
		}
		if *cityDB == "" && *asnDB == "" {
			return usagef("--report locates its clients with --geoip-city and --geoip-asn; give at least one")
		}
	} else if *ipFlag == "" && *listFlag == "" && *ccFlag == "" && *asnFlag == "" && *subFlag == "" {
		return usagef("say who the client is: --ip ADDR, --list KEY, or --country CC (or --subdivision CC-X) and/or --asn N")
	}
	if *ipFlag != "" && (*listFlag != "" || *ccFlag != "" || *asnFlag != "" || *subFlag != "") {
		return usagef("--ip locates the client itself; leave out --country, --subdivision, --asn and --list, or leave out --ip")
	}
	if *listFlag != "" && (*ccFlag != "" || *asnFlag != "" || *subFlag != "") {
		return usagef("--list names the list itself; leave out --country, --subdivision and --asn, or leave out --list")
	}
	if *subFlag != "" && *name != "" {
		return usagef("--subdivision picks a static list, as an edge does; dnsd (--name) places a client by its address: give --ip, or leave out --subdivision")
	}
	if *listFlag != "" && *name != "" {
		return usagef("--list asks what a list holds, --name what dnsd answers; give one of them")
	}
	q := lookupQuery{list: *listFlag, v6: *v6, repo: *repo, release: *release, arch: *arch, name: *name}
	if *ccFlag != "" {
		cc, err := country.Parse(*ccFlag)
		if err != nil {
			return usagef("--country: %v", err)
		}
		q.country = cc
	}
	if *subFlag != "" {
		sub, err := country.ParseSubdivision(*subFlag)
		if err != nil {
			return usagef("--subdivision: %v", err)
		}
		if q.country != "" && sub.Country() != q.country {
			return usagef("--subdivision %s is not in --country %s; a subdivision's code starts with its country's", sub, q.country)
		}
		q.country, q.subdivision = sub.Country(), sub
	}
	if *asnFlag != "" {
		n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(*asnFlag), "AS"), 10, 32)
		if err != nil || n == 0 {
			return usagef("--asn %q is not an AS number; write e.g. 3320 or AS3320", *asnFlag)
		}
		q.asn = uint32(n)
	}
	if *listFlag != "" {
		if _, err := layout.ParseKey(*listFlag); err != nil {
			return usagef("--list: %v", err)
		}
	}
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
		q.geo = &info
		q.ip = a
	}

	inv, snap, err := loadInputs(*config, *statePath, stderr)
	if err != nil {
		return err
	}
	if err := locateMirrors(inv, snap, *cityDB, stderr); err != nil {
		return err
	}
	if *report != "" {
		want, err := wantFor(inv, *repo, *release, *arch)
		if err != nil {
			return err
		}
		if want, err = wantName(inv, want, *name); err != nil {
			return err
		}
		db, err := geo.Open(*cityDB, *asnDB)
		if err != nil {
			return err
		}
		defer db.Close()
		return runReport(stdout, *report, inv, snap, want, db)
	}
	res, err := lookup(inv, snap, q)
	if err != nil {
		return err
	}
	if *asJSON {
		doc := struct {
			Client   lookupClient `json:"client"`
			List     string       `json:"list,omitempty"`
			Tried    []string     `json:"tried,omitempty"`
			File     string       `json:"file,omitempty"`
			Repo     string       `json:"repo,omitempty"`
			Release  string       `json:"release,omitempty"`
			Arch     string       `json:"arch,omitempty"`
			Verified bool         `json:"verified"`
			Mirrors  []lookupRow  `json:"mirrors"`
		}{Client: res.client, Tried: res.tried, File: res.file, Verified: snap != nil, Mirrors: res.rows}
		if res.list != nil {
			doc.List = res.list.String()
		}
		if v := res.want.Variant; v != nil {
			doc.Repo, doc.Release, doc.Arch = v.Repo.Name, v.Release, v.Arch
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	fmt.Fprintf(stdout, "client: %s\n", res.client.text())
	if res.list != nil {
		fmt.Fprintf(stdout, "list:   %s", res.list)
		switch i := slices.Index(res.tried, res.list.String()); {
		case i > 0:
			fmt.Fprintf(stdout, " (gen writes no %s; an edge tries %s)", strings.Join(res.tried[:i], " or "), strings.Join(res.tried, ", "))
		case len(res.tried) > 0 && res.client.Country == "":
			fmt.Fprint(stdout, " (an edge that knows no country serves global; give --country)")
		}
		fmt.Fprintln(stdout)
	}
	if res.file != "" {
		fmt.Fprintf(stdout, "file:   %s\n", res.file)
	}
	if v := res.want.Variant; v != nil {
		fmt.Fprintf(stdout, "wants:  %s\n", strings.Join(strings.Fields(v.Repo.Name+" "+v.Release+" "+v.Arch), " "))
	}
	if snap == nil {
		fmt.Fprintln(stdout, "health: NOT VERIFIED (no -s state.json): every declared mirror counts as healthy")
	} else {
		fmt.Fprintf(stdout, "health: %s, taken %s\n", *statePath, snap.Taken.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if len(res.rows) == 0 {
		fmt.Fprintf(stdout, "\nno healthy mirror for this client: lists give the origin, %s\n", res.origin)
		return nil
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tmirror\tcc\treason\tdistance\turl")
	for _, r := range res.rows {
		d := "-"
		if r.DistanceKm != nil {
			d = fmt.Sprintf("%.0f km", *r.DistanceKm)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Rank, r.Mirror, r.Country, r.Reason, d, r.URL)
	}
	return tw.Flush()
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
	IP          string              `json:"ip,omitempty"`
	Family      string              `json:"family"`
	Country     country.Code        `json:"country,omitempty"`
	Subdivision country.Subdivision `json:"subdivision,omitempty"`
	Continent   country.Continent   `json:"continent,omitempty"`
	ASN         uint32              `json:"asn,omitempty"`
	ASOrg       string              `json:"as_org,omitempty"`
	Lat         *float64            `json:"lat,omitempty"`
	Lon         *float64            `json:"lon,omitempty"`
}

func describeClient(c policy.Client, info *geo.Info) lookupClient {
	d := lookupClient{Family: c.Family.String(), Country: c.Country, Subdivision: c.Subdivision, Continent: c.Continent, ASN: c.ASN}
	if d.Continent == "" {
		d.Continent = c.Country.Continent()
	}
	if c.Addr.IsValid() {
		d.IP = c.Addr.String()
	}
	if info != nil {
		// What GeoIP says of it, though the policy ranks a located
		// client by distance (policy.ClientOf): the subdivision says
		// which sub-country list an edge would serve it.
		d.ASOrg, d.Subdivision = info.ASOrg, info.Subdivision()
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
	if d.Subdivision != "" {
		parts = append(parts, "subdivision "+string(d.Subdivision))
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

// lookupQuery is who the client is and what it asks for, from the
// command line: exactly one of ip, list, or country (and subdivision)
// and asn.
type lookupQuery struct {
	ip                  netip.Addr // --ip, located by geo
	geo                 *geo.Info
	list                string // --list: a list's key as its file names it
	country             country.Code
	subdivision         country.Subdivision // in country
	asn                 uint32
	v6                  bool
	repo, release, arch string
	name                string // --name: a [dns] name's label
}

// lookupResult is what lookup prints.
type lookupResult struct {
	client lookupClient
	want   policy.Want
	// list is the key of the list shown, when the client is a list's;
	// tried are the keys an edge tries for --country, --subdivision and
	// --asn, in order, of which list is the first gen writes.
	list  *layout.Key
	tried []string
	// file is where gen writes the list, when it writes one (a list
	// needs a repository, release and arch).
	file string
	rows []lookupRow
	// origin is what an empty list holds.
	origin string
}

// lookup answers q from the inventory and snapshot. A list's rows come
// from the client layout gives its key (the client gen wrote the file
// for) and URLs from policy.Choice.URL, as the files', so lookup --list K
// prints exactly the list in K's file; --country, --subdivision and --asn
// show the list an edge serves such a client (layout.Served).
func lookup(inv *inventory.Inventory, snap *state.Snapshot, q lookupQuery) (lookupResult, error) {
	want, err := wantFor(inv, q.repo, q.release, q.arch)
	if err != nil {
		return lookupResult{}, err
	}
	if want, err = wantName(inv, want, q.name); err != nil {
		return lookupResult{}, err
	}
	fam := inventory.IPv4
	if q.v6 {
		fam = inventory.IPv6
	}
	res := lookupResult{want: want}
	var c policy.Client
	switch {
	case q.ip.IsValid():
		c = policy.ClientOf(q.ip, q.ip.BitLen(), *q.geo)
		res.client = describeClient(c, q.geo)
	case q.list != "":
		k, err := layout.ParseKey(q.list)
		if err != nil {
			return res, usagef("--list: %v", err)
		}
		if !layout.Exists(inv, k) {
			return res, noList(inv, k)
		}
		c = k.Client(fam)
		res.client = describeClient(c, nil)
		res.list = &k
	case q.name != "":
		// dnsd answers an address, not a list: the client is what the
		// flags say, keyed as the most specific list it would get.
		c = policy.Client{Family: fam, ASN: q.asn, Country: q.country}
		c.Key = policy.KeyString(layout.EdgeOrder(q.asn, q.country, "")[0].String())
		res.client = describeClient(c, nil)
	default:
		k := layout.Served(func(k layout.Key) bool { return layout.Exists(inv, k) }, q.asn, q.country, q.subdivision)
		for _, t := range layout.EdgeOrder(q.asn, q.country, q.subdivision) {
			res.tried = append(res.tried, t.String())
		}
		c = k.Client(fam)
		res.client = describeClient(policy.Client{Family: fam, ASN: q.asn, Country: q.country, Subdivision: q.subdivision}, nil)
		res.list = &k
	}
	var path string
	if v := want.Variant; v != nil {
		path = v.Path()
		if res.list != nil && want.DNSName == "" {
			res.file = layout.ListPath(v, fam, *res.list)
		}
	}
	res.origin = inv.Network.Origin + path
	choices := policy.NewSet(inv, snap, want).Select(c)
	res.rows = make([]lookupRow, len(choices))
	for i, ch := range choices {
		res.rows[i] = lookupRow{Rank: i + 1, Mirror: ch.Mirror.Name, Country: ch.Mirror.Country, Reason: ch.Reason.String(), URL: ch.URL() + path}
		if ch.DistanceKm >= 0 {
			d := math.Round(ch.DistanceKm)
			res.rows[i].DistanceKm = &d
		}
	}
	return res, nil
}

// noList is the error for --list k when gen writes no list under k: an
// ASN list where no mirror of that ASN stands, or a subdivision's that
// [lists] subdivisions does not ask for or where no public mirror stands.
func noList(inv *inventory.Inventory, k layout.Key) error {
	if k.Kind() == layout.KindSubdivision {
		return noSubdivisionList(inv, k)
	}
	if k.Kind() != layout.KindASN {
		return usagef("--list %s: gen writes no such list", k)
	}
	var have []string
	for _, o := range layout.Keys(inv) {
		if o.Kind() == k.Kind() && o.ASN() == k.ASN() {
			have = append(have, o.String())
		}
	}
	if len(have) == 0 {
		return usagef("--list %s: gen writes no list for AS%d: no mirror of %s declares it", k, k.ASN(), inv.File)
	}
	return usagef("--list %s: gen writes no such list (an edge serves such clients %s); the lists of AS%d are %s",
		k, layout.CountryKey(k.Country()), k.ASN(), strings.Join(have, ", "))
}

// noSubdivisionList is the error for --list k, a subdivision's key gen
// writes no list under: it says why and what an edge serves instead.
func noSubdivisionList(inv *inventory.Inventory, k layout.Key) error {
	cc := k.Country()
	var have []string
	for _, s := range inv.SubdivisionLists() {
		if s.Country() == cc {
			have = append(have, s.String())
		}
	}
	switch {
	case len(have) > 0:
		return usagef("--list %s: gen writes no such list: no public mirror of %s stands in %s (an edge serves such clients %s); the subdivision lists of %s are %s",
			k, inv.File, k.Subdivision(), layout.CountryKey(cc), cc, strings.Join(have, ", "))
	case slices.Contains(inv.Lists.Subdivisions, cc):
		return usagef("--list %s: gen writes no subdivision lists for %s: its public mirrors do not stand in two or more subdivisions (see mirrorsteer check); an edge serves its clients %s", k, cc, layout.CountryKey(cc))
	}
	return usagef("--list %s: gen writes no subdivision lists for %s: %s does not name it in [lists] subdivisions; an edge serves its clients %s", k, cc, inv.File, layout.CountryKey(cc))
}

// wantName narrows want to the mirrors dnsd answers the [dns] name label
// from, over its protocol; "" leaves it as it is.
func wantName(inv *inventory.Inventory, want policy.Want, label string) (policy.Want, error) {
	if label == "" {
		return want, nil
	}
	if want.Variant != nil {
		return want, usagef("--name asks what dnsd answers, --repo what a list holds; give one of them")
	}
	p, ok := dnsName(inv, label)
	if !ok {
		return want, usagef("--name %q is not in [dns] names of %s", label, inv.File)
	}
	return policy.Want{Protocols: []inventory.Protocol{p}, DNSName: strings.ToLower(label)}, nil
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
