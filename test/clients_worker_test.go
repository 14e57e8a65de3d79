package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/layout"
	"github.com/mirrorsteer/mirrorsteer/test/fixtures"
)

// workerDir holds the npm packages that run the Cloudflare worker here:
// miniflare (workerd, Cloudflare's runtime) and wrangler, pinned in its
// package-lock.json; .ci/run installs them with npm ci.
const workerDir = "testdata/worker"

// workerStartTimeout bounds node, wrangler and workerd's start: slow,
// but a hang must fail the test, not the run.
const workerStartTimeout = 90 * time.Second

// startWorker runs out's edge/cloudflare-worker.js in workerd through
// miniflare, as out's edge/wrangler-assets.toml configures it, with the tree as
// static assets ("assets") and read from origin ("origin"), behind
// serve.mjs on loopback, whose base URL it returns. It stops when the
// test ends.
func startWorker(t *testing.T, out, origin string) string {
	t.Helper()
	fixtures.Need(t, "node")
	for _, pkg := range []string{"miniflare", "wrangler"} {
		if _, err := os.Stat(filepath.Join(workerDir, "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("%s is not installed (%v): run npm ci --prefix test/%s (.ci/run does)", pkg, err, workerDir)
		}
	}
	cmd := exec.Command("node", filepath.Join(workerDir, "serve.mjs"), filepath.Join(out, layout.EdgeWrangler), origin)
	cmd.Env = workerEnv(t)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close() // serve.mjs stops workerd and exits
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				url <- u
			}
		}
	}()
	select {
	case u := <-url:
		t.Logf("worker ready in %v at %s", time.Since(start).Round(time.Millisecond), u)
		return u
	case err := <-exited:
		exited <- err
		t.Fatalf("serve.mjs exited: %v\n%s", err, stderr.String())
	case <-time.After(workerStartTimeout):
		t.Fatalf("serve.mjs is not ready after %v:\n%s", workerStartTimeout, stderr.String())
	}
	return ""
}

// workerEnv is the environment of node and wrangler: no proxies, no
// metrics sent anywhere, logs and settings in the test's own directory.
func workerEnv(t *testing.T) []string {
	home := t.TempDir()
	return append(withoutProxies(os.Environ()), "no_proxy=*", "NO_PROXY=*",
		"WRANGLER_SEND_METRICS=false", "CI=true", "HOME="+home, "XDG_CONFIG_HOME="+home)
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cfOf is the request.cf Cloudflare would give a client found in e's
// networks: "XX" is its country for an address it cannot place. Every
// field the worker reads is set, so miniflare's defaults (a client in
// Texas) play no part.
func (e *edgeTree) cfOf(t *testing.T, client netip.Addr) string {
	cc, continent, asn := e.facts(client)
	if cc == "" {
		cc = "XX"
	}
	b, err := json.Marshal(map[string]any{"country": cc, "continent": continent, "asn": asn, "regionCode": "", "asOrganization": ""})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The worker answers every client what nginx answers it, byte for byte:
// both edges read the same generated tree, the worker with the client's
// location from request.cf as Cloudflare passes it, nginx from the same
// GeoIP records; the worker both with the tree as its static assets and
// with the tree read from nginx as its ORIGIN. It sends each file of the
// tree with the same Cache-Control as nginx, and wrangler accepts the
// configuration gen wrote for it.
func TestWorkerServesWhatNginxServes(t *testing.T) {
	t.Parallel()
	e := newEdgeTree(t)
	cases := edgeCases()
	seen := e.checkDistinct(t, cases)
	addr := fixtures.FreeAddr(t)
	startNginx(t, e.out, addr)
	worker := startWorker(t, e.out, "http://"+addr.String()+"/")

	hc := &http.Client{Timeout: 10 * time.Second}
	workerGet := func(t *testing.T, which, target, client, cf string) edgeResponse {
		req, _ := http.NewRequest("GET", worker+target, nil)
		req.Header.Set("X-Test-Worker", which)
		if cf != "" {
			req.Header.Set("X-Test-Cf", cf)
		}
		if client != "" {
			req.Header.Set("CF-Connecting-IP", client)
		}
		r := get(t, hc, req)
		if r.status == 599 {
			t.Fatalf("serve.mjs failed: %s", r.body)
		}
		return r
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr.String()+tt.query, nil)
			req.Header.Set("X-Client-IP", tt.client.String())
			fromNginx := get(t, hc, req)
			e.checkAnswer(t, tt, fromNginx, seen)
			for _, which := range []string{"assets", "origin"} {
				r := workerGet(t, which, tt.query, tt.client.String(), e.cfOf(t, tt.client))
				if r.status != fromNginx.status || (r.status == http.StatusOK && r.body != fromNginx.body) {
					t.Errorf("%s worker: status %d and\n%s\nnginx: status %d and\n%s", which, r.status, r.body, fromNginx.status, fromNginx.body)
				}
				e.checkAnswer(t, tt, r, seen)
			}
		})
	}
	for _, tt := range e.staticCases() {
		t.Run(tt.name, func(t *testing.T) {
			for _, which := range []string{"assets", "origin"} {
				e.checkStatic(t, tt, workerGet(t, which, tt.path, "", ""))
			}
		})
	}
	t.Run("a method other than GET or HEAD", func(t *testing.T) {
		req, _ := http.NewRequest("POST", worker+"/mirrorlist?repo=baseos&release=9&arch=x86_64", strings.NewReader("x"))
		req.Header.Set("X-Test-Worker", "assets")
		if r := get(t, hc, req); r.status != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", r.status)
		}
	})
	t.Run("HEAD: the headers of the answer, no body", func(t *testing.T) {
		req, _ := http.NewRequest("HEAD", worker+"/mirrorlist?repo=baseos&release=9&arch=x86_64", nil)
		req.Header.Set("X-Test-Worker", "origin")
		req.Header.Set("X-Test-Cf", e.cfOf(t, netip.MustParseAddr("90.2.3.4")))
		req.Header.Set("CF-Connecting-IP", "90.2.3.4")
		r := get(t, hc, req)
		if r.status != http.StatusOK || r.body != "" || r.header.Get("X-Mirrorsteer-File") != "/mirrorlist/baseos/9/x86_64/FR.txt" {
			t.Errorf("status %d, X-Mirrorsteer-File %q, body %q; want 200, the FR list, no body", r.status, r.header.Get("X-Mirrorsteer-File"), r.body)
		}
	})
	wrangler, err := filepath.Abs(filepath.Join(workerDir, "node_modules", "wrangler", "bin", "wrangler.js"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("wrangler deploy --dry-run, the tree as assets", func(t *testing.T) {
		cmd := exec.Command("node", wrangler, "deploy", "--dry-run", "-c", filepath.Join(e.out, layout.EdgeWrangler), "--name", "mirrors")
		cmd.Env = workerEnv(t)
		out, err := runBounded(cmd, clientTimeout)
		if err != nil || !strings.Contains(out, "env.ASSETS") {
			t.Errorf("wrangler deploy --dry-run of the generated configuration: %v\n%s", err, out)
		}
	})
	// The worker alone, as its first lines say: wrangler must not find
	// the assets configuration beside it and upload the tree.
	t.Run("wrangler deploy --dry-run, the worker alone with ORIGIN", func(t *testing.T) {
		cmd := exec.Command("node", wrangler, "deploy", "--dry-run", filepath.Join(e.out, layout.EdgeWorker), "--name", "mirrors",
			"--compatibility-date", gen.WorkerCompatibilityDate, "--var", "ORIGIN:https://tree.example.org/")
		cmd.Dir = t.TempDir()
		cmd.Env = workerEnv(t)
		out, err := runBounded(cmd, clientTimeout)
		if err != nil || !strings.Contains(out, "env.ORIGIN") || strings.Contains(out, "env.ASSETS") {
			t.Errorf("wrangler deploy --dry-run of the worker with ORIGIN: %v; want env.ORIGIN and no env.ASSETS\n%s", err, out)
		}
	})
}

// runBounded runs cmd, killing it after d, and returns what it printed.
func runBounded(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	timer := time.AfterFunc(d, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	return out.String(), err
}
