package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

func init() { addStep(45, "metalinks", showMetalinks) }

// baseos9 is the variant whose lists the demo shows.
var baseos9 = inventory.Variant{Repo: localmirror.DefaultRepos[0], Release: "9", Arch: "x86_64"}

// showMetalinks points at a dnf metalink and an RFC 5854 metalink gen
// wrote, and downloads the demo's ISO with aria2c from the metalink while
// the mirrors still run. The demo's host names (mirror-de.demo.test) are
// known only to the demo, so aria2c goes through a small forward proxy
// that resolves them; the same command works against real mirrors
// without --all-proxy.
func showMetalinks(d *demo) error {
	iso := "9/isos/x86_64/Example-9-x86_64-dvd.iso"
	meta4 := filepath.Join(d.Out, filepath.FromSlash(layout.Meta4Path(iso)))
	metalink := filepath.Join(d.Out, filepath.FromSlash(layout.MetalinkPath(&baseos9, inventory.IPv4, layout.CountryKey("DE"))))
	for _, f := range []string{meta4, metalink} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("gen did not write %s: %w", f, err)
		}
	}
	d.header("metalinks: for dnf and for download tools")
	abs, _ := filepath.Abs(metalink)
	fmt.Fprintf(d.Stdout, "dnf metalink for Germany:  metalink=file://%s\n", abs)
	fmt.Fprintf(d.Stdout, "RFC 5854 metalink:         %s\n", meta4)

	proxy, stop, err := startProxy(d.Net.Hosts())
	if err != nil {
		return err
	}
	defer stop()
	dl := filepath.Join(d.Dir, "download")
	os.RemoveAll(dl)
	args := []string{"--all-proxy=http://" + proxy, "--ca-certificate=" + d.Net.CAFile(), "--metalink-location=de",
		"--dir=" + dl, "--console-log-level=warn", "--summary-interval=0", "--download-result=hide", "-M", meta4}
	fmt.Fprintf(d.Stdout, "$ aria2c %s\n", strings.Join(args, " "))
	aria2c, err := exec.LookPath("aria2c")
	if err != nil {
		fmt.Fprintln(d.Stdout, "(aria2c is not installed: apt-get install aria2 to run it)")
		return nil
	}
	cmd := exec.Command(aria2c, args...)
	cmd.Stdout, cmd.Stderr = d.Stdout, d.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("aria2c: %w", err)
	}
	got, err := os.ReadFile(filepath.Join(dl, filepath.Base(iso)))
	if err != nil {
		return err
	}
	want := d.Net.Current().Files[iso]
	if !bytes.Equal(got, want) {
		return fmt.Errorf("aria2c downloaded %d bytes that differ from the origin's", len(got))
	}
	fmt.Fprintf(d.Stdout, "aria2c: %s downloaded from the metalink's mirrors (German first), sha-256 %x, identical to the origin's\n", filepath.Base(iso), sha256.Sum256(got))
	return nil
}

// startProxy runs an HTTP forward proxy on loopback that resolves the
// demo's host names from hosts (plain requests and CONNECT tunnels).
func startProxy(hosts map[string][]netip.Addr) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	dial := func(hostport string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, err
		}
		addrs := hosts[strings.ToLower(host)]
		if len(addrs) == 0 {
			return nil, fmt.Errorf("%s is not a host of the demo network", host)
		}
		return net.Dial("tcp", net.JoinHostPort(addrs[0].String(), port))
	}
	transport := &http.Transport{
		Proxy:       nil,
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) { return dial(addr) },
	}
	var wg sync.WaitGroup
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			up, err := dial(r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			client, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				up.Close()
				return
			}
			io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n")
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, client); up.Close() }()
			go func() { defer wg.Done(); io.Copy(client, up); client.Close() }()
			return
		}
		r.RequestURI = ""
		resp, err := transport.RoundTrip(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close(); transport.CloseIdleConnections(); wg.Wait() }, nil
}
