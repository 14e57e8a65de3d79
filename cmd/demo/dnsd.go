package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

var (
	dnsdConfig = flag.String("dnsd-config", "mirrors.toml", "the inventory dnsd serves (it has the [dns] zone)")
	dnsdGeoIP  = flag.String("geoip", "demo/geoip", "`directory` with the demo GeoIP databases (GeoIP2-City.mmdb, GeoLite2-ASN.mmdb)")
	dnsdListen = flag.String("dnsd-listen", "127.0.0.1:0", "where the demo's dnsd listens; port 0 lets the kernel pick a free one")
)

func init() { addStep(50, "dnsd", runDnsd) }

// demoSubnets are client networks in the demo GeoIP database, each in
// another place, so the same name gets different answers.
var demoSubnets = []struct{ subnet, who string }{
	{"81.1.2.0/24", "Deutsche Telekom, Germany"},
	{"90.0.0.0/24", "Orange, France"},
	{"106.3.0.0/24", "KDDI, Japan"},
	{"177.4.0.0/24", "Claro, Brazil"},
	{"125.236.0.0/24", "Spark, New Zealand"},
	{"41.90.0.0/24", "Safaricom, Kenya"},
	{"2001:db8:84::/48", "Telstra, Australia, IPv6"},
}

// runDnsd starts dnsd on the example network with the demo GeoIP
// databases, asks it for download.example.org from several client subnets
// (EDNS Client Subnet), and leaves it running so the printed dig commands
// can be tried; the next demo replaces it. It is the one thing the demo
// does not stop: its pid file says how. Its ports (DNS and metrics) are
// the kernel's choice, printed: a fixed one would collide with a dnsd,
// CoreDNS or mDNS responder already there.
func runDnsd(d *demo) error {
	pidFile := filepath.Join(filepath.Dir(d.Dir), "dnsd.pid")
	stopOld(pidFile)
	logPath := filepath.Join(filepath.Dir(d.Dir), "dnsd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := []string{"dnsd", "-c", *dnsdConfig,
		"--geoip-city", filepath.Join(*dnsdGeoIP, "GeoIP2-City.mmdb"), "--geoip-asn", filepath.Join(*dnsdGeoIP, "GeoLite2-ASN.mmdb"),
		"-l", *dnsdListen, "--metrics", "127.0.0.1:0"}
	cmd := exec.Command(d.Bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the demo
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := fileio.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		// Without its pid file nothing would stop it.
		cmd.Process.Kill()
		cmd.Wait()
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	// dnsd logs the addresses it bound once it serves.
	var addr, metrics string
	for start := time.Now(); addr == "" || metrics == ""; time.Sleep(50 * time.Millisecond) {
		log, _ := os.ReadFile(logPath)
		if m := listeningRe.FindSubmatch(log); m != nil {
			addr = string(m[1])
		}
		if m := metricsRe.FindSubmatch(log); m != nil {
			metrics = string(m[1])
		}
		select {
		case <-exited:
			return fmt.Errorf("dnsd exited:\n%s", log)
		default:
		}
		if time.Since(start) > 20*time.Second {
			return fmt.Errorf("dnsd did not start in 20s:\n%s", log)
		}
	}
	d.header("dnsd: authoritative GeoDNS for example.org on %s (%s, no state.json: every mirror counts as healthy)", addr, *dnsdConfig)
	fmt.Fprintf(d.Stdout, "$ mirrorsteer %s &\n", strings.Join(args, " "))
	host, port, _ := net.SplitHostPort(addr)
	c := &dns.Client{Timeout: time.Second}
	for _, s := range demoSubnets {
		answer, err := askWithSubnet(c, addr, "download.example.org.", s.subnet)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.Stdout, "%-72s -> %s  (%s)\n", fmt.Sprintf("dig @%s -p %s +short +subnet=%s download.example.org", host, port, s.subnet), answer, s.who)
	}
	fmt.Fprintf(d.Stdout, "why that answer:  dig @%s -p %s +short +subnet=81.1.2.0/24 _whoami.example.org TXT\n", host, port)
	fmt.Fprintf(d.Stdout, "its metrics:      curl -s http://%s/metrics | grep ^dnsd_\n", metrics)
	fmt.Fprintf(d.Stdout, "dnsd keeps running for you to try (pid file %s, log %s); stop it: make demo-stop (or kill $(cat %s))\n", pidFile, logPath, pidFile)
	return nil
}

// What dnsd logs (log/slog, text) about the addresses it bound.
var (
	listeningRe = regexp.MustCompile(`msg=listening addr=(\S+)`)
	metricsRe   = regexp.MustCompile(`msg=metrics addr=(\S+)`)
)

// askWithSubnet asks name A with an EDNS Client Subnet and returns the
// CNAME target of the answer.
func askWithSubnet(c *dns.Client, server, name, subnet string) (string, error) {
	ip, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return "", err
	}
	bits, _ := ipnet.Mask.Size()
	ecs := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, SourceNetmask: uint8(bits), Family: 1, Address: ip}
	if ip.To4() == nil {
		ecs.Family = 2
	}
	m := new(dns.Msg).SetQuestion(name, dns.TypeA)
	m.SetEdns0(1232, false)
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, ecs)
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return "", fmt.Errorf("asking dnsd for %s from %s: %w", name, subnet, err)
	}
	for _, rr := range r.Answer {
		if cn, ok := rr.(*dns.CNAME); ok {
			return cn.Target, nil
		}
	}
	return "", errors.New("dnsd answered " + dns.RcodeToString[r.Rcode] + " without a CNAME for " + name)
}

// stopOld stops the dnsd a previous demo left running, so the port is
// free.
func stopOld(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	// Only ever a mirrorsteer dnsd: the pid may have been reused.
	if cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err != nil || !strings.Contains(string(cl), "dnsd") {
		os.Remove(pidFile)
		return
	}
	if p, err := os.FindProcess(pid); err == nil && p.Signal(syscall.SIGTERM) == nil {
		for range 30 {
			if p.Signal(syscall.Signal(0)) != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Remove(pidFile)
}
