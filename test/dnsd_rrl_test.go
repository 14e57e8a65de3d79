package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A flood from one address is answered at about the rate limit, with
// every second reply over it truncated, while another network is
// answered every time; and a client of the flooding address that
// learned a server cookie (from another dnsd with the same
// --cookie-secret, as behind an anycast address) is answered every time.
//
// Counts, not times: after each window of the flood, a query with the
// valid cookie from the same socket is answered in order after it (one
// UDP socket of dnsd reads one source's packets, and answers them in
// order), so when its reply is in, every reply of the window is.
func TestDnsdRateLimit(t *testing.T) {
	const (
		rate    = 10
		windows = 30
		window  = 100
		flooder = "127.0.0.2" // 127.0.0.0/24
		other   = "127.0.1.3" // another /24
	)
	n := newDnsdNet(t, nil)
	secret := filepath.Join(n.dir, "cookie-secret")
	if err := os.WriteFile(secret, []byte("# shared by both\n445536bcd2513298075a5d379663c962\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--rrl", strconv.Itoa(rate), "--rrl-slip", "2", "--rrl-exempt", "", "--cookie-secret", secret}
	p := startDnsd(t, n, flags...)
	peer := startDnsd(t, n, flags...)

	from := func(addr string) *dns.Client {
		return &dns.Client{Net: "udp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(addr)}}}
	}
	query := func(id uint16, cookie string) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("download.example.org.", dns.TypeA)
		m.Id, m.RecursionDesired = id, false
		if cookie != "" {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: cookie})
		}
		return m
	}

	// The cookie, from the peer.
	r, _, err := from(flooder).Exchange(query(1, "2464c4abcf10c957"), peer.addr)
	if err != nil {
		t.Fatalf("asking the peer for a cookie from %s: %v", flooder, err)
	}
	var cookie string
	for _, o := range r.IsEdns0().Option {
		if c, ok := o.(*dns.EDNS0_COOKIE); ok {
			cookie = c.Cookie
		}
	}
	if len(cookie) != 48 || len(r.Answer) != 1 {
		t.Fatalf("the peer's reply to a client cookie: want an answer and a server cookie:\n%v", r)
	}

	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(flooder)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadBuffer(1 << 20)
	server, err := net.ResolveUDPAddr("udp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const marker = 0xffff
	markerWire := pack(query(marker, cookie))
	var answered, truncated, otherAnswered, otherAsked int
	buf := make([]byte, 2048)
	start := time.Now()
	for w := range windows {
		for i := range window {
			if _, err := conn.WriteToUDP(pack(query(uint16(w*window+i), "")), server); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.WriteToUDP(markerWire, server); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			k, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				t.Fatalf("window %d: no reply to the query with a valid server cookie (%v): was it rate limited?", w, err)
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:k]); err != nil {
				t.Fatalf("a reply that does not decode: %v", err)
			}
			if m.Id == marker {
				if m.Truncated || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
					t.Fatalf("window %d: the query with a valid server cookie: want an answer:\n%v", w, m)
				}
				break
			}
			switch {
			case m.Truncated && len(m.Answer) == 0:
				truncated++
			case m.Rcode == dns.RcodeSuccess && len(m.Answer) == 1:
				answered++
			default:
				t.Fatalf("window %d: neither an answer nor a slipped reply:\n%v", w, m)
			}
		}
		if w%4 == 0 { // under the limit of its own /24
			otherAsked++
			r, _, err := from(other).Exchange(query(uint16(w), ""), p.addr)
			if err == nil && !r.Truncated && len(r.Answer) == 1 {
				otherAnswered++
			} else {
				t.Errorf("window %d: from %s during the flood: %v %v", w, other, err, r)
			}
		}
	}
	elapsed := time.Since(start)
	sent := windows * window
	limited := sent - answered
	dropped := limited - truncated
	t.Logf("%d queries from %s in %v: %d answered, %d truncated, %d dropped; %d of %d from %s answered",
		sent, flooder, elapsed.Round(time.Millisecond), answered, truncated, dropped, otherAnswered, otherAsked, other)
	if most := rate + int(float64(rate)*elapsed.Seconds()) + 1; answered < rate || answered > most {
		t.Errorf("%d answered, want from the burst of %d to %d (%v at %d a second)", answered, rate, most, elapsed, rate)
	}
	if truncated < limited/2-1 || truncated > limited/2+1 {
		t.Errorf("%d truncated of %d over the limit, want every second one", truncated, limited)
	}
	// The truncated client asks again over TCP, and is answered.
	tcp := &dns.Client{Net: "tcp", Timeout: 5 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(flooder)}}}
	if r, _, err := tcp.Exchange(query(7, ""), p.addr); err != nil || len(r.Answer) != 1 {
		t.Errorf("over TCP from %s: %v %v", flooder, err, r)
	}
	// The metrics say the same.
	metrics := scrape(t, p)
	for _, want := range []string{
		fmt.Sprintf(`dnsd_rrl_responses_total{action="dropped",kind="answer"} %d`, dropped),
		fmt.Sprintf(`dnsd_rrl_responses_total{action="slipped",kind="answer"} %d`, truncated),
		fmt.Sprintf(`dnsd_cookies_total{result="valid"} %d`, windows),
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(metrics) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
