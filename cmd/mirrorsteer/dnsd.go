package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mirrorsteer/mirrorsteer/dnsd"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/remote"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// listFlag collects a flag that may be repeated or comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func runDnsd(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	config := fs.String("c", "mirrors.toml", "the inventory `file` or https URL (signed: see --verify-key), with its [dns] table")
	statePath := fs.String("s", "", "the state snapshot: probe's state.json or gen's api/state.json, a `file` or an https URL (signed: see --verify-key); without it every declared mirror counts as healthy")
	cityDB := fs.String("geoip-city", "", "MaxMind City or Country database (`mmdb`) to locate askers")
	asnDB := fs.String("geoip-asn", "", "MaxMind ASN database (`mmdb`) to find askers' ASNs")
	var listen listFlag
	fs.Var(&listen, "l", "`host:port` to serve DNS on, UDP and TCP (repeat, or separate with commas; port 0 picks one)")
	metricsAddr := fs.String("metrics", "", "`host:port` for Prometheus metrics at /metrics, e.g. 127.0.0.1:9153 (port 0 picks one, logged); none unless set")
	watch := fs.Duration("watch", 2*time.Second, "check the input files for changes this `often` and reload; 0: only on SIGHUP")
	tcpIdle := fs.Duration("tcp-idle", 10*time.Second, "close a TCP connection idle this `long`")
	tcpMax := fs.Int("tcp-max", 256, "at most this many TCP connections at once")
	tcpPerSource := fs.Int("tcp-per-source", 16, "at most this many TCP connections at once from one IPv4 address or IPv6 /64")
	logLevel := fs.String("log-level", "info", "`level` of logs on stderr: debug, info, warn, error")
	rrlRate := fs.Int("rrl", 20, "send at most `rate` UDP responses a second of each kind (answers; NXDOMAIN and NODATA; errors) to one IPv4 /24 or IPv6 /56; 0: no limit")
	rrlSlip := fs.Int("rrl-slip", 2, "of the responses over --rrl, send every `N`th without records (TC, or BADCOOKIE to a client with a cookie) so that a real client asks again; 1: all, 0: none")
	rrlExempt := fs.String("rrl-exempt", "127.0.0.0/8,::1/128", "`networks` never rate limited, comma-separated; \"\" for none")
	var verifyKey listFlag
	fs.Var(&verifyKey, "verify-key", "public key `file` (mirrorsteer keygen) whose detached signature (URL.sig) must vouch for -c and -s given as URLs; repeat while replacing a key")
	poll := fs.Duration("poll", 30*time.Second, "fetch -c and -s given as URLs this `often` (a conditional GET: 304 when unchanged); 0: only at start and on SIGHUP")
	fetchTimeout := fs.Duration("fetch-timeout", remote.DefaultTimeout, "give up a fetch of -c or -s (the file and its signature) after this `long`, whatever the server does; the last good copy keeps serving")
	caFile := fs.String("ca-file", "", "PEM `file` of extra CA certificates to trust, besides the system's, for -c and -s given as URLs")
	statsFile := fs.String("stats-file", "", "write answer statistics (answers per name, mirror and client country since dnsd started) to this JSON `file` every --stats-interval and at exit, for gen --stats")
	statsEvery := fs.Duration("stats-interval", 5*time.Minute, "write --stats-file this `often`")
	cookieSecret := fs.String("cookie-secret", "", "`file` of DNS cookie secrets, 32 hex digits a line, the first making cookies: the same file on every dnsd of an anycast address; default: a random secret")
	printDS := fs.Bool("print-ds", false, "print the DS records of the zone's keys that sign its DNSKEY set (give them to the parent zone) and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *printDS {
		return printDSRecords(*config, stdout)
	}
	if len(listen) == 0 {
		return usagef("say where to serve: -l 192.0.2.53:53 (repeat -l for IPv6, e.g. -l '[2001:db8::53]:53')")
	}
	if *statsFile != "" && *statsEvery <= 0 {
		return usagef("--stats-interval %v: want a positive duration, e.g. 5m", *statsEvery)
	}
	if *tcpPerSource < 1 {
		return usagef("--tcp-per-source %d: want at least 1 (as many as --tcp-max for no limit per source)", *tcpPerSource)
	}
	defences, cookies, err := defences(*rrlRate, *rrlSlip, *rrlExempt, *cookieSecret)
	if err != nil {
		return err
	}
	remoteCfg, err := remoteConfig(*config, *statePath, verifyKey, *caFile, *poll, *fetchTimeout)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	if *statePath == "" {
		log.Warn("no -s state.json: NOTHING IS VERIFIED, every declared mirror counts as healthy")
	}
	metrics := dnsd.NewMetrics()
	loader := dnsd.NewLoader(dnsd.Sources{
		Config: *config, State: *statePath, City: *cityDB, ASN: *asnDB, Remote: remoteCfg,
		Prepare: func(inv *inventory.Inventory, snap *state.Snapshot) error {
			// Place mirrors as lookup and gen do, so all rank alike.
			return locateMirrors(inv, snap, *cityDB, io.Discard)
		},
	}, log, metrics)
	h, err := loader.Start()
	if err != nil {
		return err
	}
	h.Defend(defences)
	log.Info("defences", "rrl", *rrlRate, "rrl_slip", *rrlSlip, "rrl_exempt", *rrlExempt, "cookie_secret", cookies)
	srv, err := dnsd.Listen(h, dnsd.ServerConfig{Listen: listen, TCPIdle: *tcpIdle, TCPMax: *tcpMax, TCPPerSource: *tcpPerSource}, log)
	if err != nil {
		return err
	}
	srv.Serve()
	defer srv.Close()
	for _, a := range srv.Addrs() {
		log.Info("listening", "addr", a.String(), "transports", "udp,tcp")
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(metrics, loader.FetchMetrics(), h.DNSSECCollector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics %s: %w", *metricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "error", err)
			}
		}()
		defer hs.Close()
		log.Info("metrics", "addr", ln.Addr().String(), "path", "/metrics")
	}
	if *watch > 0 {
		go loader.Watch(ctx, *watch)
	}
	if *poll > 0 {
		go loader.Poll(ctx, *poll)
	}
	if *statsFile != "" {
		stopStats := writeAnswerStats(ctx, metrics, *statsFile, *statsEvery, log)
		defer stopStats()
		defer stop() // before stopStats: ends its ticker
	}
	go loader.KeepSigned(ctx)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	for s := range sig {
		if s == syscall.SIGHUP {
			log.Info("SIGHUP: reloading")
			// Fetching by URL may take up to --fetch-timeout: meanwhile a
			// SIGTERM still stops dnsd at once.
			go loader.Reload() // logged and counted
			continue
		}
		log.Info("stopping", "signal", s.String())
		return nil
	}
	return nil
}

// remoteConfig reads the flags of inputs given by URL. A URL needs a key
// to verify it, and a key a URL to verify.
func remoteConfig(config, statePath string, keyFiles []string, caFile string, poll, timeout time.Duration) (remote.Config, error) {
	var c remote.Config
	urls := dnsd.IsURL(config) || dnsd.IsURL(statePath)
	switch {
	case urls && len(keyFiles) == 0:
		return c, usagef("-c or -s is a URL: give the public key its signature is checked with, --verify-key snapshot.pub (mirrorsteer keygen makes the pair; gen --sign-key and mirrorsteer sign sign)")
	case !urls && len(keyFiles) > 0:
		return c, usagef("--verify-key checks what is fetched by URL, and neither -c nor -s is one; give -s https://.../api/state.json, or leave out --verify-key")
	case !urls && caFile != "":
		return c, usagef("--ca-file is for -c or -s given as https URLs, and neither is one")
	case poll < 0:
		return c, usagef("--poll %v: want a duration, e.g. 30s, or 0 to fetch only on SIGHUP", poll)
	case timeout <= 0:
		return c, usagef("--fetch-timeout %v: want a duration, e.g. 30s", timeout)
	}
	if !urls {
		return c, nil
	}
	var err error
	if c.Keys, err = verifyKeys(keyFiles); err != nil {
		return c, err
	}
	if c.Roots, err = caPool("--ca-file", caFile); err != nil {
		return c, err
	}
	c.Timeout = timeout
	return c, nil
}

// defences reads the rate limit and cookie flags; the string says where
// the cookie secret came from, for the log.
func defences(rate, slip int, exempt, secretFile string) (dnsd.Defences, string, error) {
	var d dnsd.Defences
	if rate < 0 {
		return d, "", usagef("--rrl %d: want responses a second, e.g. 20, or 0 for no limit", rate)
	}
	if slip < 0 {
		return d, "", usagef("--rrl-slip %d: want 0 (drop every response over the limit), 1 (slip all) or more", slip)
	}
	var nets []netip.Prefix
	for _, f := range strings.Split(exempt, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return d, "", usagef("--rrl-exempt: %q is not a network; want e.g. 127.0.0.0/8,::1/128,192.0.2.53", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		nets = append(nets, p.Masked())
	}
	if rate > 0 {
		d.RateLimit = dnsd.NewRateLimiter(rate, slip, nets)
	}
	if secretFile == "" {
		return d, "random (give --cookie-secret for several dnsd behind one anycast address)", nil
	}
	c, err := dnsd.LoadCookieSecrets(secretFile)
	if err != nil {
		return d, "", err
	}
	d.Cookies = c
	return d, secretFile, nil
}

// printDSRecords writes the DS records of the keys [dns.dnssec] of config
// names that sign the DNSKEY set, one a line, as a zone file holds them.
func printDSRecords(config string, stdout io.Writer) error {
	var keys *dnsd.Keys
	_, err := inventory.Load(config, func(inv *inventory.Inventory) inventory.Errors {
		var errs inventory.Errors
		keys, errs = dnsd.ReadKeys(inv)
		return errs
	})
	if err != nil {
		return err
	}
	if keys == nil {
		return fmt.Errorf("%s: the zone is not signed: there is no [dns.dnssec] table with its keys (see dnsd/README.md, DNSSEC)", config)
	}
	for _, ds := range keys.DS() {
		fmt.Fprintln(stdout, ds.String())
	}
	return nil
}
