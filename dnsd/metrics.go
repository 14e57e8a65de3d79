package dnsd

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what dnsd does. Queries bump atomic counters that a
// Zone resolves when it is swapped in, each reader in its own stripe;
// the Prometheus collector adds the stripes up at scrape time, so the
// per-query cost is an atomic add on a line no other reader writes, and
// counters survive reloads.
//
// Exposed (see README.md):
//
//	dnsd_queries_total{name, type, rcode}
//	dnsd_answers_total{name, mirror, reason}
//	dnsd_fallback_total{name}
//	dnsd_clients_total{country}
//	dnsd_reloads_total{result}, dnsd_reload_timestamp_seconds
//	dnsd_errors_total{kind}
//	dnsd_tcp_connections
//	dnsd_rrl_responses_total{kind, action}
//	dnsd_cookies_total{result}
type Metrics struct {
	mu    sync.Mutex
	names map[string]*nameCounters // by name label
	stats answerStats              // answers by name, mirror and country (answerstats.go)

	reloadOK, reloadFailed atomic.Uint64
	reloadTime             atomic.Int64 // Unix seconds of the last good load
	errors                 map[string]*atomic.Uint64
	tcpConns               atomic.Int64
	rrl                    [rrlKinds][rrlActions]atomic.Uint64 // dropped and slipped
	cookies                [cookieResults]atomic.Uint64

	descQueries, descAnswers, descFallback, descClients *prometheus.Desc
	descReloads, descReloadTime, descErrors, descTCP    *prometheus.Desc
	descRRL, descCookies                                *prometheus.Desc
}

// Query name classes that are not steered names.
const (
	nameStatic    = "_zone"      // the zone's own records, NODATA, NXDOMAIN
	nameWhoami    = "_whoami"    // the debug name
	nameOutside   = "_outside"   // not in the zone: REFUSED
	nameMalformed = "_malformed" // FORMERR, NOTIMP, BADVERS before a name was read
)

var typeNames = [...]string{"A", "AAAA", "CNAME", "SOA", "NS", "MX", "TXT", "ANY", "other"}

func typeIndex(t uint16) int {
	switch t {
	case dns.TypeA:
		return 0
	case dns.TypeAAAA:
		return 1
	case dns.TypeCNAME:
		return 2
	case dns.TypeSOA:
		return 3
	case dns.TypeNS:
		return 4
	case dns.TypeMX:
		return 5
	case dns.TypeTXT:
		return 6
	case dns.TypeANY:
		return 7
	}
	return 8
}

var rcodeNames = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS"}

func rcodeIndex(rcode int) int {
	if rcode == dns.RcodeBadVers {
		return 6
	}
	if rcode >= 0 && rcode < 6 {
		return rcode
	}
	return 2
}

// nameCounters are one name's queries, per stripe (a reader adds to its
// own: one counter every query of every reader adds to would bounce
// between the cores), and its fallback answers.
type nameCounters struct {
	queries  []queryCounts // a power of two of stripes
	fallback atomic.Uint64
}

// queryCounts are a stripe's queries by type and rcode, on cache lines
// of its own.
type queryCounts struct {
	c [len(typeNames)][len(rcodeNames)]atomic.Uint64
	_ [64 - len(typeNames)*len(rcodeNames)*8%64]byte
}

// count adds a query of type qtype answered with rcode, in stripe.
func (n *nameCounters) count(stripe uint32, qtype uint16, rcode int) {
	n.queries[int(stripe)&(len(n.queries)-1)].c[typeIndex(qtype)][rcodeIndex(rcode)].Add(1)
}

// NewMetrics returns empty counters.
func NewMetrics() *Metrics {
	m := &Metrics{names: map[string]*nameCounters{}, errors: map[string]*atomic.Uint64{}, stats: newAnswerStats(time.Now())}
	m.descQueries = prometheus.NewDesc("dnsd_queries_total", "DNS queries answered, by steered name (or _zone, _whoami, _outside, _malformed), query type and response code.", []string{"name", "type", "rcode"}, nil)
	m.descAnswers = prometheus.NewDesc("dnsd_answers_total", "Answers for steered names, by name, mirror (or fallback) and the policy's reason (tier).", []string{"name", "mirror", "reason"}, nil)
	m.descFallback = prometheus.NewDesc("dnsd_fallback_total", "Answers with the fallback target because no mirror was healthy for the asker.", []string{"name"}, nil)
	m.descClients = prometheus.NewDesc("dnsd_clients_total", "Answers for steered names by the asker's GeoIP country (unknown when not located).", []string{"country"}, nil)
	m.descReloads = prometheus.NewDesc("dnsd_reloads_total", "Loads of the inputs: ok, or failed (the previous data kept serving).", []string{"result"}, nil)
	m.descReloadTime = prometheus.NewDesc("dnsd_reload_timestamp_seconds", "When the data now served was loaded.", nil, nil)
	m.descErrors = prometheus.NewDesc("dnsd_errors_total", "Transport and input errors, by kind.", []string{"kind"}, nil)
	m.descTCP = prometheus.NewDesc("dnsd_tcp_connections", "Open TCP connections.", nil, nil)
	m.descRRL = prometheus.NewDesc("dnsd_rrl_responses_total", "UDP responses over the rate limit of their source network, by kind (answer, negative, error) and action: dropped, or slipped (sent truncated, or BADCOOKIE to a query with a client cookie).", []string{"kind", "action"}, nil)
	m.descCookies = prometheus.NewDesc("dnsd_cookies_total", "Queries with a DNS cookie, by result: client (a client cookie only), valid (a valid server cookie: never rate limited), invalid (a server cookie that fails: answered as client), malformed (FORMERR).", []string{"result"}, nil)
	return m
}

func (m *Metrics) name(label string) *nameCounters {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.names[label]
	if n == nil {
		n = &nameCounters{queries: make([]queryCounts, m.stats.mask+1)}
		m.names[label] = n
	}
	return n
}

// Error counts one error of a kind (udp_read, tcp_rejected, reload, ...).
func (m *Metrics) Error(kind string) {
	m.mu.Lock()
	c := m.errors[kind]
	if c == nil {
		c = &atomic.Uint64{}
		m.errors[kind] = c
	}
	m.mu.Unlock()
	c.Add(1)
}

func (m *Metrics) reloaded(ok bool, at time.Time) {
	if ok {
		m.reloadOK.Add(1)
		m.reloadTime.Store(at.Unix())
	} else {
		m.reloadFailed.Add(1)
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.descQueries, m.descAnswers, m.descFallback, m.descClients, m.descReloads, m.descReloadTime, m.descErrors, m.descTCP, m.descRRL, m.descCookies, m.stats.desc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for label, n := range m.names {
		for t := range typeNames {
			for r := range rcodeNames {
				v := uint64(0)
				for s := range n.queries {
					v += n.queries[s].c[t][r].Load()
				}
				if v > 0 {
					counter(m.descQueries, v, label, typeNames[t], rcodeNames[r])
				}
			}
		}
		if v := n.fallback.Load(); v > 0 {
			counter(m.descFallback, v, label)
		}
	}
	m.stats.collectReasons(ch, m.descAnswers)
	m.stats.collect(ch, m.descClients)
	counter(m.descReloads, m.reloadOK.Load(), "ok")
	counter(m.descReloads, m.reloadFailed.Load(), "failed")
	ch <- prometheus.MustNewConstMetric(m.descReloadTime, prometheus.GaugeValue, float64(m.reloadTime.Load()))
	for kind, c := range m.errors {
		counter(m.descErrors, c.Load(), kind)
	}
	ch <- prometheus.MustNewConstMetric(m.descTCP, prometheus.GaugeValue, float64(m.tcpConns.Load()))
	for k := range m.rrl {
		for _, a := range []rrlAction{rrlDrop, rrlSlip} {
			counter(m.descRRL, m.rrl[k][a].Load(), rrlKindNames[k], rrlActionNames[a])
		}
	}
	for r := range m.cookies {
		counter(m.descCookies, m.cookies[r].Load(), cookieResultNames[r])
	}
}

// zoneCounters are a Zone's resolved pointers into Metrics.
type zoneCounters struct {
	static, whoami, outside, malformed *nameCounters
	names                              []*nameCounters
	// stats[name][mirror+1] count answers by country and reason
	// (answerstats.go); mirror -1 is the fallback.
	stats [][]*answerCounts
}

func (m *Metrics) forZone(z *Zone) *zoneCounters {
	zc := &zoneCounters{static: m.name(nameStatic), whoami: m.name(nameWhoami), outside: m.name(nameOutside), malformed: m.name(nameMalformed)}
	for _, g := range z.names {
		zc.names = append(zc.names, m.name(g.label))
	}
	m.mu.Lock()
	zc.stats = m.stats.forZone(z)
	m.mu.Unlock()
	return zc
}
