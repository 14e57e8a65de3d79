// Package dnsd is mirrorsteer's authoritative GeoDNS server: it answers
// the [dns] zone of mirrors.toml, and each steered name (download.<zone>)
// with a CNAME to the first mirror the shared selection policy gives the
// asker, located by its EDNS Client Subnet (RFC 7871) or source address.
//
// Inputs are the inventory (with its [dns] table), the records of its
// zone file (ReadZoneFile: dnsd is what reads and checks that file), the
// state snapshot probe writes (or gen's api/state.json), and the GeoIP
// City and ASN databases. The inventory and the snapshot may be https
// URLs: the Loader then fetches them (package remote), believes only
// what a trusted key signed, and keeps the last good copy when a fetch
// fails or brings an older snapshot.
// Compile turns one generation of them into a Zone: every record in wire
// form, per steered name the candidate mirrors, their CNAMEs and the
// names whose answer does not depend on the asker. A Handler answers a
// DNS message from the current Zone without allocating; the transports
// (UDP with SO_REUSEPORT readers, TCP per RFC 7766) only move bytes; a
// Loader rebuilds the Zone on SIGHUP or when a file changes and swaps it
// in atomically, keeping the old one when the new inputs are bad.
// With keys (ReadKeys, from [dns.dnssec]) Compile also signs the zone:
// every RRset it can send is signed ahead and answered with its RRSIGs
// to a query with DO; names that do not exist get compact denial (RFC
// 9824), signed per query; Zone.Resign makes the signatures again before
// they expire.
// Defend turns on the defences of a server on the internet: response
// rate limiting per source /24 or /56 (RateLimiter) and DNS cookies
// (RFC 7873, with server cookies as RFC 9018 makes them), which prove a
// source address and so lift the limit. Metrics counts every answer by
// mirror and the asker's country; AnswerSummary is what dnsd
// --stats-file writes for gen --stats (package answerstats).
//
// Example run, serving the example network on loopback:
//
//	mirrorsteer dnsd -c mirrors.toml -s state.json \
//	    --geoip-city GeoIP2-City.mmdb --geoip-asn GeoLite2-ASN.mmdb \
//	    -l 127.0.0.1:5353 --metrics 127.0.0.1:9153
//	dig @127.0.0.1 -p 5353 +subnet=81.1.2.0/24 download.example.org A
//
// See README.md for what is answered how, the metrics and the figures.
package dnsd
