package test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// freeAddr6 returns a free port on ::1.
func freeAddr6(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatalf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	return netip.MustParseAddrPort(l.Addr().String())
}

// clientFrom is an HTTP client whose connections come from the address
// from, so that nginx sees that peer.
func clientFrom(from netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0)), Timeout: 5 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives: true,
	}}
}

// edge/nginx-http-headers.conf serves a CDN's requests by the location
// the CDN puts in its headers (CloudFront's names), the same files the
// GeoIP edge serves the same clients; and it believes those headers only
// from the addresses gen was told to trust: a request from anywhere else
// that forges them gets the global list of its own address family, and a
// trusted header that is not a country code or an AS number reaches no
// file name.
func TestNginxHeadersEdgeBelievesOnlyTrustedProxies(t *testing.T) {
	t.Parallel()
	e := newEdgeTree(t)
	cases := edgeCases()
	seen := e.checkDistinct(t, cases)
	addr4, addr6 := fixtures.FreeAddr(t), freeAddr6(t)
	startNginxWith(t, e.out, layout.EdgeHTTPHeaders, addr4, addr6)

	trusted := clientFrom(trustedProxy)
	for _, tt := range cases {
		t.Run("trusted CDN: "+tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr4.String()+tt.query, nil)
			cc, _, asn := e.facts(tt.client)
			if cc != "" {
				req.Header.Set(gen.HeaderCountry, cc)
			}
			if asn != 0 {
				req.Header.Set(gen.HeaderASN, strconv.FormatUint(uint64(asn), 10))
			}
			// As CloudFront writes it: the address, a colon, the port.
			req.Header.Set(gen.HeaderAddress, tt.client.String()+":46532")
			e.checkAnswer(t, tt, get(t, trusted, req), seen)
		})
	}

	const baseos = "/mirrorlist?repo=baseos&release=9&arch=x86_64"
	forged := map[string]string{gen.HeaderCountry: "DE", gen.HeaderASN: "3320", gen.HeaderAddress: "2001:db8:49::1:443"}
	tests := []struct {
		name    string
		from    netip.Addr
		to      netip.AddrPort
		headers map[string]string
		want    string
	}{
		{"forged headers from an untrusted IPv4 peer: its own family's global list", netip.MustParseAddr("127.0.0.2"), addr4, forged,
			"mirrorlist/baseos/9/x86_64/global.txt"},
		{"forged headers from an untrusted IPv6 peer: its own family's global list", netip.MustParseAddr("::1"), addr6, forged,
			"mirrorlist/baseos/9/x86_64/v6/global.txt"},
		{"the same headers from the trusted proxy are believed", trustedProxy, addr4, forged,
			"mirrorlist/baseos/9/x86_64/v6/AS3320-DE.txt"},
		{"trusted, a country that is no code: nothing is known", trustedProxy, addr4,
			map[string]string{gen.HeaderCountry: "../../../../etc/passwd%00", gen.HeaderASN: "3320", gen.HeaderAddress: "81.1.2.3:1"},
			"mirrorlist/baseos/9/x86_64/global.txt"},
		{"trusted, a lower-case country is no code", trustedProxy, addr4,
			map[string]string{gen.HeaderCountry: "de", gen.HeaderAddress: "81.1.2.3:1"},
			"mirrorlist/baseos/9/x86_64/global.txt"},
		{"trusted, an ASN that is no number: the country's list", trustedProxy, addr4,
			map[string]string{gen.HeaderCountry: "DE", gen.HeaderASN: "3320-DE/../../FR", gen.HeaderAddress: "81.1.2.3:1"},
			"mirrorlist/baseos/9/x86_64/DE.txt"},
		{"trusted, no address header: the family of the proxy's own address", trustedProxy, addr4,
			map[string]string{gen.HeaderCountry: "FR"},
			"mirrorlist/baseos/9/x86_64/FR.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+tt.to.String()+baseos, nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			// A proxy's usual headers are no more believed than the CDN's.
			req.Header.Set("X-Forwarded-For", "81.1.2.3")
			req.Header.Set("X-Real-IP", "81.1.2.3")
			e.checkAnswer(t, edgeCase{name: tt.name, want: tt.want, ctype: "text/plain"}, get(t, clientFrom(tt.from), req), seen)
		})
	}
}

// A network to trust that is none is a usage error naming it, and
// nothing is written.
func TestEdgeTrustMustBeANetwork(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	r := mirrorsteer(t, "gen", "-c", example, "-o", out, "--edge-trust", "127.0.0.1,cloudfront")
	if r.code != 2 || !strings.Contains(r.stderr, `"cloudfront" is neither a prefix`) {
		t.Errorf("exit %d, stderr %q; want exit 2 naming \"cloudfront\"", r.code, r.stderr)
	}
	if _, err := os.Lstat(out); err == nil {
		t.Error("gen wrote a tree anyway")
	}
}
