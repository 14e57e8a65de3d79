package geotest

import "net/netip"

// Demo returns a small fixed set of networks for tests and the demo: two or
// more countries on every inhabited continent plus Antarctica, IPv4 and
// IPv6, several ASNs, subdivisions in the United States, Canada and
// Australia, loopback (127.0.0.0/8 and ::1, so a resolver or
// browser on the same machine is located), the demo mirrors' own addresses,
// and a few odd records real databases have. Each call returns a new slice.
//
// The networks of the peer benchmark's mkmmdb are here with the same
// countries and ASNs, so figures from either are comparable; for example
// 106.3.0.0/16 is Japan there and here.
//
// Addresses are made up: the prefixes are real allocations or
// documentation ranges, but what they map to is not what they are.
func Demo() []Net {
	return []Net{
		// Europe: Germany is the richest entry (v4, v6, a nested ASN).
		{Prefix: pfx("81.1.0.0/16"), Country: "DE", Continent: "EU", Lat: 52.52, Lon: 13.40, HasCoord: true, ASN: 3320, Org: "Deutsche Telekom AG"},
		// The upper half of 81.1.0.0/16 belongs to another AS and has no City
		// record of its own: City says DE for 81.1.0.0/16, ASN says AS8881
		// for 81.1.128.0/17 (CityPrefix and ASNPrefix differ).
		{Prefix: pfx("81.1.128.0/17"), ASN: 8881, Org: "1&1 Versatel"},
		{Prefix: pfx("2a01:db8:1::/48"), Country: "DE", Continent: "EU", Lat: 52.52, Lon: 13.40, HasCoord: true, ASN: 3320, Org: "Deutsche Telekom AG"},
		{Prefix: pfx("90.0.0.0/16"), Country: "FR", Continent: "EU", Lat: 48.86, Lon: 2.35, HasCoord: true, ASN: 3215, Org: "Orange"},
		{Prefix: pfx("86.128.0.0/16"), Country: "GB", Continent: "EU", Lat: 51.51, Lon: -0.13, HasCoord: true, ASN: 2856, Org: "British Telecommunications PLC"},

		// North America.
		{Prefix: pfx("73.2.0.0/16"), Country: "US", Subdivisions: []string{"CA", "075"}, Continent: "NA", Lat: 37.77, Lon: -122.42, HasCoord: true, ASN: 7922, Org: "Comcast Cable Communications, LLC"},
		{Prefix: pfx("2600:db8:2::/48"), Country: "US", Subdivisions: []string{"CA", "075"}, Continent: "NA", Lat: 37.77, Lon: -122.42, HasCoord: true, ASN: 7922, Org: "Comcast Cable Communications, LLC"},
		{Prefix: pfx("24.48.0.0/16"), Country: "CA", Subdivisions: []string{"ON"}, Continent: "NA", Lat: 43.65, Lon: -79.38, HasCoord: true, ASN: 812, Org: "Rogers Communications Canada Inc."},
		{Prefix: pfx("187.188.0.0/16"), Country: "MX", Continent: "NA", Lat: 19.43, Lon: -99.13, HasCoord: true, ASN: 8151, Org: "Uninet S.A. de C.V."},

		// Asia. 106.3.0.0/16 is the peer benchmark's ECS client subnet.
		{Prefix: pfx("106.3.0.0/16"), Country: "JP", Continent: "AS", Lat: 35.68, Lon: 139.69, HasCoord: true, ASN: 2516, Org: "KDDI CORPORATION"},
		{Prefix: pfx("2001:db8:81::/48"), Country: "JP", Continent: "AS", Lat: 35.68, Lon: 139.69, HasCoord: true, ASN: 2516, Org: "KDDI CORPORATION"},
		{Prefix: pfx("202.166.0.0/16"), Country: "SG", Continent: "AS", Lat: 1.35, Lon: 103.82, HasCoord: true, ASN: 9506, Org: "Singtel Fibre Broadband"},
		{Prefix: pfx("117.192.0.0/16"), Country: "IN", Continent: "AS", Lat: 28.61, Lon: 77.21, HasCoord: true, ASN: 9829, Org: "National Internet Backbone"},

		// South America.
		{Prefix: pfx("177.4.0.0/16"), Country: "BR", Continent: "SA", Lat: -23.55, Lon: -46.63, HasCoord: true, ASN: 28573, Org: "Claro NXT Telecomunicacoes Ltda"},
		{Prefix: pfx("2001:db8:82::/48"), Country: "BR", Continent: "SA", Lat: -23.55, Lon: -46.63, HasCoord: true, ASN: 28573, Org: "Claro NXT Telecomunicacoes Ltda"},
		{Prefix: pfx("181.0.0.0/16"), Country: "AR", Continent: "SA", Lat: -34.60, Lon: -58.38, HasCoord: true, ASN: 7303, Org: "Telecom Argentina S.A."},
		{Prefix: pfx("190.160.0.0/16"), Country: "CL", Continent: "SA", Lat: -33.45, Lon: -70.67, HasCoord: true, ASN: 22047, Org: "VTR BANDA ANCHA S.A."},

		// Oceania.
		{Prefix: pfx("1.5.0.0/16"), Country: "AU", Subdivisions: []string{"NSW"}, Continent: "OC", Lat: -33.87, Lon: 151.21, HasCoord: true, ASN: 1221, Org: "Telstra Limited"},
		{Prefix: pfx("2001:db8:84::/48"), Country: "AU", Subdivisions: []string{"NSW"}, Continent: "OC", Lat: -33.87, Lon: 151.21, HasCoord: true, ASN: 1221, Org: "Telstra Limited"},
		{Prefix: pfx("125.236.0.0/16"), Country: "NZ", Continent: "OC", Lat: -36.85, Lon: 174.76, HasCoord: true, ASN: 4771, Org: "Spark New Zealand Trading Ltd."},

		// Africa.
		{Prefix: pfx("41.0.0.0/16"), Country: "ZA", Continent: "AF", Lat: -26.20, Lon: 28.05, HasCoord: true, ASN: 37457, Org: "Telkom SA Ltd."},
		{Prefix: pfx("2001:db8:83::/48"), Country: "ZA", Continent: "AF", Lat: -26.20, Lon: 28.05, HasCoord: true, ASN: 37457, Org: "Telkom SA Ltd."},
		{Prefix: pfx("41.90.0.0/16"), Country: "KE", Continent: "AF", Lat: -1.29, Lon: 36.82, HasCoord: true, ASN: 33771, Org: "Safaricom Limited"},
		{Prefix: pfx("105.112.0.0/16"), Country: "NG", Continent: "AF", Lat: 6.52, Lon: 3.38, HasCoord: true, ASN: 36873, Org: "Airtel Networks Limited"},

		// Antarctica, with no ASN record: a client located by City only.
		{Prefix: pfx("198.51.100.0/24"), Country: "AQ", Continent: "AN", Lat: -77.85, Lon: 166.67, HasCoord: true},

		// Loopback, so a client on the machine running the demo is located
		// (in the Netherlands). ::1 sits in the tree's IPv4 part (::/96), so
		// 0.0.0.1 maps here too.
		{Prefix: pfx("127.0.0.0/8"), Country: "NL", Continent: "EU", Lat: 52.37, Lon: 4.90, HasCoord: true, ASN: 1136, Org: "KPN B.V."},
		{Prefix: pfx("::1/128"), Country: "NL", Continent: "EU", Lat: 52.37, Lon: 4.90, HasCoord: true, ASN: 1136, Org: "KPN B.V."},

		// The demo mirrors' own addresses (TEST-NET-1), so answers can be
		// located too (distance between client and mirror).
		{Prefix: pfx("192.0.2.1/32"), Country: "DE", Continent: "EU", Lat: 50.11, Lon: 8.68, HasCoord: true, ASN: 64501, Org: "Mirror-EU"},
		{Prefix: pfx("192.0.2.2/32"), Country: "US", Continent: "NA", Lat: 39.04, Lon: -77.49, HasCoord: true, ASN: 64502, Org: "Mirror-US"},
		{Prefix: pfx("192.0.2.3/32"), Country: "SG", Continent: "AS", Lat: 1.35, Lon: 103.82, HasCoord: true, ASN: 64503, Org: "Mirror-AP"},
		{Prefix: pfx("192.0.2.4/32"), Country: "BR", Continent: "SA", Lat: -23.55, Lon: -46.63, HasCoord: true, ASN: 64504, Org: "Mirror-SA"},

		// Odd records real databases have (TEST-NET-3):
		// the pseudo country "EU" of old GeoIP databases, which must come
		// out as an unknown country but a known continent;
		{Prefix: pfx("203.0.113.0/26"), Country: "EU", Continent: "EU", Lat: 47, Lon: 8, HasCoord: true, ASN: 64510, Org: "Pan-European Anycast"},
		// a network with no country, only the country it is registered in,
		// and no coordinates (anycast, satellite): Country falls back to US,
		// HasCoord is false;
		{Prefix: pfx("203.0.113.64/26"), Registered: "US", Continent: "NA", ASN: 64511, Org: "Anycast Example"},
		// a network the ASN database knows and the City database does not.
		{Prefix: pfx("203.0.113.128/26"), ASN: 64512, Org: "Unlocated Networks"},
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
