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
	config := fs.String("c", "mirrors.toml", "the inventory `file`, with its [dns] table")
	statePath := fs.String("s", "", "the state snapshot `file`; without it every declared mirror counts as healthy")
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
	if err := parse(fs, args); err != nil {
		return err
	}
	if len(listen) == 0 {
		return usagef("say where to serve: -l 192.0.2.53:53 (repeat -l for IPv6, e.g. -l '[2001:db8::53]:53')")
	}
	if *tcpPerSource < 1 {
		return usagef("--tcp-per-source %d: want at least 1 (as many as --tcp-max for no limit per source)", *tcpPerSource)
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
		Config: *config, State: *statePath, City: *cityDB, ASN: *asnDB,
		Prepare: func(inv *inventory.Inventory, snap *state.Snapshot) error {
			// Place mirrors as lookup and gen do, so all rank alike.
			return locateMirrors(inv, snap, *cityDB, io.Discard)
		},
	}, log, metrics)
	h, err := loader.Start()
	if err != nil {
		return err
	}
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
		reg.MustRegister(metrics, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	for s := range sig {
		if s == syscall.SIGHUP {
			log.Info("SIGHUP: reloading")
			_ = loader.Reload()
			continue
		}
		log.Info("stopping", "signal", s.String())
		return nil
	}
	return nil
}
