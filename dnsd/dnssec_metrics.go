package dnsd

import (
	"github.com/prometheus/client_golang/prometheus"
)

// dnssecCollector exports when the signatures of the zone being served
// expire and are made again: an alert on the first nearing now catches
// a dnsd that cannot re-sign (a key file gone bad is a failed reload,
// which keeps the old zone, and its signatures, until they are re-made
// from the keys in memory).
type dnssecCollector struct {
	h              *Handler
	expiry, resign *prometheus.Desc
}

// DNSSECCollector returns the Prometheus collector of h's signatures:
//
//	dnsd_dnssec_expiry_timestamp_seconds  the earliest expiry of a signature of the zone served
//	dnsd_dnssec_resign_timestamp_seconds  when they are to be made again
//
// Both are absent while the zone is unsigned.
func (h *Handler) DNSSECCollector() prometheus.Collector {
	return &dnssecCollector{h: h,
		expiry: prometheus.NewDesc("dnsd_dnssec_expiry_timestamp_seconds", "When the first signature of the zone being served expires (Unix time).", nil, nil),
		resign: prometheus.NewDesc("dnsd_dnssec_resign_timestamp_seconds", "When the zone's signatures are made again (Unix time).", nil, nil),
	}
}

func (c *dnssecCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiry
	ch <- c.resign
}

func (c *dnssecCollector) Collect(ch chan<- prometheus.Metric) {
	z := c.h.Zone()
	if !z.Signed() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, float64(z.Expires().Unix()))
	ch <- prometheus.MustNewConstMetric(c.resign, prometheus.GaugeValue, float64(z.ResignAt().Unix()))
}
