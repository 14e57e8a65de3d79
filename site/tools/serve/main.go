// Command serve serves a tree gen wrote (out/) on loopback, to look at the
// status site and fetch the lists as a client would:
//
//	go run ./site/tools/serve [-addr 127.0.0.1:8080] out
//
// It prints the site's URL and serves until interrupted. It is for the
// demo and for people trying mirrorsteer; in production any web server or
// CDN serves out/.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on; port 0 picks a free one")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: serve [-addr HOST:PORT] DIR\n\nServes DIR, a tree mirrorsteer gen wrote, and prints the status site's URL.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	if _, err := os.Stat(filepath.Join(dir, "index.html")); err != nil {
		fmt.Fprintf(os.Stderr, "serve: %s has no index.html: run mirrorsteer gen -o %s first\n", dir, dir)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v (pick another with -addr 127.0.0.1:0)\n", err)
		os.Exit(1)
	}
	fmt.Printf("status site: http://%s/  (serving %s; Ctrl-C stops)\n", ln.Addr(), dir)
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}
