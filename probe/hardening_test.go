package probe_test

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/probe"
)

// TestNoAnswerIsPublished: what a mirror answers never reaches the
// snapshot, the API or the site, however the check fails. Each mirror
// answers with localmirror.Secret where a careless prober would quote it:
// a stamp that is not a time, a reason phrase, garbage instead of HTTP,
// FTP or rsync, a Location that is no URL, a certificate's names. The
// site explains the classes of mirrors that lie or point elsewhere.
func TestNoAnswerIsPublished(t *testing.T) {
	haveRsync(t)
	all := []string{"http", "ftp", "rsync"}
	// One repository of each kind (gen writes lists for every country of
	// every variant: few variants keep the test quick).
	_, inv, cfg, _ := startNetwork(t, localmirror.Options{
		Repos: []*inventory.Repo{
			{Name: "baseos", Path: "{release}/BaseOS/{arch}/os/", Releases: []string{"9"}, Archs: []string{"x86_64"}, Format: inventory.FormatRPM},
			{Name: "debian", Path: "debian/", Releases: []string{"stable"}, Archs: []string{"amd64"}, Format: inventory.FormatDeb},
		},
		Mirrors: []localmirror.Spec{
			{Behaviour: localmirror.LeakStamp, Protocols: all},
			{Behaviour: localmirror.LeakStatus},
			{Behaviour: localmirror.LeakGarbage, Protocols: all},
			{Behaviour: localmirror.LeakRedirect},
			{Behaviour: localmirror.LeakCert},
			// And the new classes, to see the site explain them.
			{Behaviour: localmirror.Ahead},
			{Behaviour: localmirror.RedirectOrigin},
			{Behaviour: localmirror.RedirectPrivate},
		},
	})
	snap, rep, err := probe.Run(context.Background(), inv, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Each fails in its class, with that class's message.
	for _, c := range []struct {
		mirror string
		proto  state.Protocol
		class  state.Class
		msg    string
	}{
		{"leak-stamp", "http", "protocol", "the stamp file TIME is not a time"},
		{"leak-stamp", "ftp", "protocol", "the stamp file TIME is not a time"},
		{"leak-stamp", "rsync", "protocol", "the stamp file TIME is not a time"},
		{"leak-garbage", "http", "protocol", "not a valid HTTP answer"},
		{"leak-garbage", "ftp", "protocol", "ftp: the server answered 530"},
		{"leak-garbage", "rsync", "protocol", "rsync exited with status 5"},
		{"leak-redirect", "http", "redirect", "a redirect whose Location is not a URL"},
		{"leak-cert", "https", "tls", "the certificate is not valid for the host name asked for"},
	} {
		e := snap.Endpoint(c.mirror, c.proto, state.IPv4)
		if e == nil || e.Up || e.Class != c.class || !strings.Contains(e.Error, c.msg) {
			t.Errorf("%s %s: %+v, want down with class %s and %q", c.mirror, c.proto, e, c.class, c.msg)
		}
	}
	if e := snap.Endpoint("leak-status", "http", state.IPv4); !e.Up || len(e.Repos) == 0 || !strings.Contains(e.Repos[0].Error, "HTTP 403 Forbidden for ") {
		t.Errorf("leak-status: %+v, want up with its repos refused: HTTP 403 Forbidden", e)
	}

	dir := t.TempDir()
	if err := snap.Write(filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Run(gen.Options{Inventory: inv, Snapshot: snap, Out: filepath.Join(dir, "out")}); err != nil {
		t.Fatal(err)
	}
	var summary strings.Builder
	rep.WriteSummary(&summary)
	if err := os.WriteFile(filepath.Join(dir, "summary.txt"), []byte(summary.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	files := 0
	// out is a link to the tree gen committed; walk both (WalkDir does
	// not follow links).
	tree, err := filepath.EvalSymlinks(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	walk := func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if strings.Contains(strings.ToLower(string(b)), localmirror.Secret) {
			t.Errorf("%s publishes what a mirror answered", strings.TrimPrefix(p, dir+"/"))
		}
		return nil
	}
	err = errors.Join(filepath.WalkDir(dir, walk), filepath.WalkDir(tree, walk))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"state.json", "out/api/state.json", "out/mirror/leak-stamp.html"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s was not written, so not checked: %v", p, err)
		}
	}
	if files < 10 {
		t.Errorf("only %d files were looked at", files)
	}
	for mirror, text := range map[string]string{
		"ahead":            "its stamp claims a sync later than the origin&#39;s",
		"redirect-origin":  "it redirects its clients to the origin",
		"redirect-private": "leads to an address the probe does not connect to",
	} {
		b, err := os.ReadFile(filepath.Join(dir, "out", "mirror", mirror+".html"))
		if err != nil || !strings.Contains(string(b), text) {
			t.Errorf("the page of %s does not explain its class with %q (%v)", mirror, text, err)
		}
	}
}

// TestASlowMirrorCostsOneTimeoutPerEndpoint: an endpoint's requests share
// one deadline, so answers just under the timeout do not add up to one
// timeout per request. Counted in requests: the stamp comes at 0.7
// timeout, the next request runs into the endpoint's deadline, and none
// is made after it.
func TestASlowMirrorCostsOneTimeoutPerEndpoint(t *testing.T) {
	n, inv, cfg, _ := start(t, localmirror.Spec{Behaviour: localmirror.SlowAnswer, Delay: timeout * 7 / 10})
	snap := run(t, inv, nil, cfg)
	if got := n.Mirror("slow-answer").Requests(); got < 1 || got > 2 {
		t.Errorf("the slow mirror was asked %d times within one timeout, want at most 2 (the stamp, then the request the deadline cut)", got)
	}
	e := snap.Endpoint("slow-answer", state.HTTP, state.IPv4)
	for _, r := range e.Repos {
		if r.Repo != "isos" && (r.Fresh || !strings.Contains(r.Error, "ran out of time")) {
			t.Errorf("slow-answer: repo %+v, want not checked: the endpoint ran out of time", r)
		}
	}
}

// TestEndlessMetadataCostsNoMemory: 40 mirrors that stream an endless
// repomd.xml (and every other metadata file) cost the run next to no
// memory: bodies are hashed as they come, never kept, and a mirror's file
// is read no further than the largest version the origin had.
func TestEndlessMetadataCostsNoMemory(t *testing.T) {
	var specs []localmirror.Spec
	for i := range 40 {
		specs = append(specs, localmirror.Spec{Name: "endless-" + string(rune('a'+i/26)) + string(rune('a'+i%26)), Behaviour: localmirror.EndlessMetadata})
	}
	_, inv, cfg, _ := start(t, specs...)
	cfg.MaxBody = 16 << 20
	// Nothing hangs here; the servers' endless writes only load the
	// machine.
	cfg.Timeout = 20 * time.Second
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	snap := run(t, inv, nil, cfg)
	runtime.ReadMemStats(&after)
	const bound = 64 << 20
	if got := after.TotalAlloc - before.TotalAlloc; got > bound {
		t.Errorf("40 endless mirrors: the run allocated %d MiB in all, want under %d MiB", got>>20, bound>>20)
	}
	e := snap.Endpoint("endless-aa", state.HTTP, state.IPv4)
	if !e.Up || len(e.Repos) == 0 {
		t.Fatalf("endless-aa: %+v, want up", e)
	}
	for _, r := range e.Repos {
		if r.Repo != "isos" && (r.Fresh || !strings.Contains(r.Error, "larger than any of the origin's")) {
			t.Errorf("endless-aa: repo %+v, want not fresh: larger than the origin's", r)
		}
	}
}

// hookResolver calls hook once, when host is first looked up: at the start
// of that mirror's check, after the origin's.
type hookResolver struct {
	probe.Resolver
	host string
	once sync.Once
	hook func()
}

func (r *hookResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == r.host {
		r.once.Do(r.hook)
	}
	return r.Resolver.LookupNetIP(ctx, network, host)
}

// TestAStampAheadOfTheOriginIsNotFresh: a mirror claiming a sync time
// after the origin's is not believed (class ahead), but one that copied a
// stamp the origin published during the run is not ahead.
func TestAStampAheadOfTheOriginIsNotFresh(t *testing.T) {
	n, inv, cfg, _ := start(t, localmirror.Spec{Behaviour: localmirror.Ahead}, localmirror.Spec{Name: "follower"})
	t0 := n.Current().Time
	follower := n.Mirror("follower")
	cfg.Resolver = &hookResolver{Resolver: cfg.Resolver, host: follower.Host, hook: func() {
		n.Publish(t0.Add(6 * time.Hour))
		follower.Sync()
	}}
	snap := run(t, inv, nil, cfg)
	e := snap.Endpoint("ahead", state.HTTP, state.IPv4)
	if !e.Up || e.Healthy || e.Class != state.ClassAhead || e.Lag.Duration != 0 || !strings.Contains(e.Error, "ahead of the origin's") {
		t.Errorf("a year ahead: %+v, want up, not healthy, class ahead", e)
	}
	for _, r := range e.Repos {
		if r.Fresh {
			t.Errorf("a year ahead: repo %+v is fresh", r)
		}
	}
	if f := snap.Endpoint("follower", state.HTTP, state.IPv4); !f.Up || f.Class != "" || !f.Healthy {
		t.Errorf("a mirror that copied the origin's new stamp during the run: %+v, want up and healthy", f)
	}
}

// TestAMirrorThatRedirectsToTheOriginCarriesNothing: it is not a mirror
// for the lists, and what it redirects to is not fetched.
func TestAMirrorThatRedirectsToTheOriginCarriesNothing(t *testing.T) {
	n, inv, cfg, _ := start(t, localmirror.Spec{Name: "healthy"}, localmirror.Spec{Behaviour: localmirror.RedirectOrigin})
	snap := run(t, inv, nil, cfg)
	e := snap.Endpoint("redirect-origin", state.HTTP, state.IPv4)
	if e.Up || e.Healthy || e.Class != state.ClassRedirectsToOrigin {
		t.Errorf("redirect-origin: %+v, want down, class %s", e, state.ClassRedirectsToOrigin)
	}
	// The origin answered the probe's own requests, as many as the healthy
	// mirror did, and none on behalf of the other.
	if o, h := n.Origin().Requests(), n.Mirror("healthy").Requests(); o != h {
		t.Errorf("the origin answered %d requests, the healthy mirror %d: the redirects were followed", o, h)
	}
}
