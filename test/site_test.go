package test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// htmlValidate is the validator .ci/run installs from npm, pinned there.
const htmlValidate = "html-validate"

// hostileMirror tries to put markup into the pages through the fields
// mirrors.toml lets through: the sponsor and its URL. (A name cannot: the
// inventory only accepts [A-Za-z0-9][A-Za-z0-9._+-]*; site and inventory
// tests check that.)
const hostileMirror = `
[[mirror]]
name        = "evil.example.net"
sponsor     = "<script>alert(1)</script>"
sponsor_url = "https://evil.example.net/\"><script>alert(1)</script>"
country     = "NL"
https       = "https://evil.example.net/example/"
`

// TestSiteInChromium generates the example twice (without a snapshot, and
// with one in which some mirrors are down, stale or half down, plus a
// mirror whose sponsor is a script), serves both trees on loopback and
// opens the pages in headless Chromium over the DevTools protocol: no
// console errors, one dot and one table row per mirror, sorting works, no
// script from mirrors.toml runs, and the country page lists what the list
// file says. It validates the HTML and saves a screenshot.
func TestSiteInChromium(t *testing.T) {
	chromium := findChromium(t)
	validator, err := exec.LookPath(htmlValidate)
	if err != nil {
		t.Fatalf("%s not found: it validates the site's HTML; install it as .ci/run does (npm install -g html-validate@<pinned version>)", htmlValidate)
	}

	dir := t.TempDir()
	cfg := filepath.Join(dir, "mirrors.toml")
	doc := readFile(t, example) + hostileMirror
	if err := os.WriteFile(cfg, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse(cfg, []byte(doc), "..")
	if err != nil {
		t.Fatal(err)
	}
	snap := statetest.Healthy(inv, func(m string, e *state.Endpoint) {
		switch m {
		case "mirror.lon.example.co.uk":
			e.Up, e.Healthy, e.Successes, e.Failures = false, false, 0, 4
			e.Class, e.Error = "timeout", "no answer within 10s"
			e.LastGood, e.Lag = statetest.Taken.Add(-26*time.Hour), state.Duration{}
		case "mirror.tyo.example.jp":
			e.Healthy, e.Class, e.Error = false, "stale", "TIME says 2026-11-22T10:00:00Z, 21h behind the origin"
			e.Lag = state.DurationOf(21 * time.Hour)
		case "mirror.paris.example.fr":
			if e.Family == state.IPv6 {
				e.Up, e.Healthy, e.Successes, e.Failures = false, false, 0, 2
				e.Class, e.Error = "refused", "connect: connection refused"
			}
		}
	})
	snapPath := filepath.Join(dir, "state.json")
	if err := snap.Write(snapPath); err != nil {
		t.Fatal(err)
	}
	verified, plain := filepath.Join(dir, "www", "verified"), filepath.Join(dir, "www", "plain")
	if r := mirrorsteer(t, "gen", "-c", cfg, "-s", snapPath, "-o", verified); r.code != 0 {
		t.Fatalf("gen with a snapshot: %s", r.stderr)
	}
	if r := mirrorsteer(t, "gen", "-c", cfg, "-s", snapPath, "-o", verified); r.code != 0 || !strings.Contains(r.stdout, " 0 written,") {
		t.Errorf("a second gen rewrote files, so the site is not deterministic: %s%s", r.stdout, r.stderr)
	}
	if r := mirrorsteer(t, "gen", "-c", example, "-o", plain); r.code != 0 {
		t.Fatalf("gen without a snapshot: %s", r.stderr)
	}

	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "www"))))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	// Collect every console message of level error, every uncaught
	// exception and every dialog (alert) the pages open.
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	messages := chromedp.Console(browser) // subscribes now, before any page
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line))
				mu.Unlock()
			}
		}
	}()
	if err := chromedp.Listen(browser, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			mu.Lock()
			problems = append(problems, "a dialog opened: "+d.Message)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	open := func(p string) {
		t.Helper()
		if err := chromedp.Do(browser, chromedp.Navigate(srv.URL+"/"+p), chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
			t.Fatalf("opening %s: %v", p, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(browser, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The front page with a snapshot.
	open("verified/index.html")
	if n := count("svg.map circle.dot"); n != len(inv.Mirrors) {
		t.Errorf("the map has %d dots, want one per mirror: %d", n, len(inv.Mirrors))
	}
	if n := count("#mirrors tbody tr"); n != len(inv.Mirrors) {
		t.Errorf("the table has %d rows, want one per mirror: %d", n, len(inv.Mirrors))
	}
	for sel, want := range map[string]int{"circle.dot.st-down": 1, "circle.dot.st-stale": 1, "circle.dot.st-partial": 1, "#unverified": 0, "script": 1} {
		if n := count(sel); n != want {
			t.Errorf("%d elements match %s, want %d", n, sel, want)
		}
	}
	if s := eval(`[...document.querySelectorAll("#mirrors tbody tr")].find(r => r.textContent.includes("evil.example.net")).cells[3].textContent`); s != "<script>alert(1)</script>" {
		t.Errorf("the hostile sponsor reads %q, want it shown as text", s)
	}
	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	saveArtifact(t, "site-index.png", shot)

	// Sorting: by mirror name, then by lag both ways (unknown lag last).
	column := func(i int) []string {
		t.Helper()
		s := eval(fmt.Sprintf(`[...document.querySelectorAll("#mirrors tbody tr")].map(r => r.cells[%d].textContent.trim()).join("\n")`, i))
		return strings.Split(s, "\n")
	}
	click := func(heading string) {
		t.Helper()
		sel := fmt.Sprintf(`//table[@id="mirrors"]/thead//th[normalize-space()=%q]/button`, heading)
		if err := chromedp.Do(browser, chromedp.Click(chromedp.Search(sel))); err != nil {
			t.Fatalf("clicking %q: %v", heading, err)
		}
	}
	click("Mirror")
	names := column(1)
	if !slices.IsSorted(names) {
		t.Errorf("sorted by mirror, the names are not in order: %q", names)
	}
	if got := eval(`document.querySelector("#mirrors thead th[aria-sort]").textContent`); got != "Mirror" {
		t.Errorf("aria-sort is on %q after sorting by mirror", got)
	}
	click("Lag")
	lags := column(6)
	if lags[len(lags)-1] != "unknown" || lags[len(lags)-2] != "21h" || lags[0] != "none" {
		t.Errorf("by lag, ascending: %q", lags)
	}
	click("Lag")
	lags = column(6)
	if lags[0] != "21h" || lags[len(lags)-1] != "unknown" {
		t.Errorf("by lag, descending: %q", lags)
	}

	// The page of a mirror that is down, of the hostile one, and a phone.
	open("verified/mirror/mirror.lon.example.co.uk.html")
	if s := eval(`document.querySelector("table.endpoints").textContent`); !strings.Contains(s, "it did not answer in time: no answer within 10s") || !strings.Contains(s, "4 failed runs in a row") {
		t.Errorf("the endpoints of a mirror that is down do not say why:\n%s", s)
	}
	open("verified/mirror/evil.example.net.html")
	if s := eval(`document.querySelector("p.lead a").textContent + " " + document.querySelector("p.lead a").getAttribute("href")`); !strings.HasPrefix(s, "<script>alert(1)</script> https://evil.example.net/") {
		t.Errorf("the hostile sponsor link reads %q", s)
	}

	// A country page lists what the list file holds, in its order, and the
	// script filled in this site's address.
	open("verified/country/DE.html")
	urls := strings.Split(eval(`[...document.querySelector("section.group ol").querySelectorAll("code")].map(c => c.textContent).join("\n")`), "\n")
	var want []string
	for _, l := range strings.Split(strings.TrimSpace(readFile(t, filepath.Join(verified, "mirrorlist/baseos/9/x86_64/DE.txt"))), "\n") {
		if !strings.HasPrefix(l, "#") {
			want = append(want, strings.TrimSuffix(l, "9/BaseOS/x86_64/os/"))
		}
	}
	if !slices.Equal(urls, want) {
		t.Errorf("Germany's page lists\n%q\nbut mirrorlist/baseos/9/x86_64/DE.txt has\n%q", urls, want)
	}
	if s := eval(`document.querySelector("pre .site-base").textContent`); s != srv.URL+"/verified/" {
		t.Errorf("the examples show the site at %q, want %q", s, srv.URL+"/verified/")
	}
	if err := chromedp.Do(browser, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3))); err != nil {
		t.Fatal(err)
	}
	open("verified/index.html")
	if w := eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("on a phone the page is %spx wide, wider than the screen (390px)", w)
	}
	shot, err = chromedp.Run(browser, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	saveArtifact(t, "site-index-phone.png", shot)
	if err := chromedp.Do(browser, chromedp.ResetViewport()); err != nil {
		t.Fatal(err)
	}

	// Without a snapshot the site says so first.
	open("plain/index.html")
	if s := eval(`document.querySelector("#unverified").textContent`); !strings.Contains(s, "Nothing is verified.") {
		t.Errorf("the unverified site does not say so: %q", s)
	}
	if n := count("circle.dot.st-unknown"); n != len(inv.Mirrors)-1 {
		t.Errorf("%d grey dots without a snapshot, want %d", n, len(inv.Mirrors)-1)
	}
	open("plain/countries.html")
	open("plain/country/NZ.html")

	// With JavaScript off everything is there; only sorting is missing.
	if _, err := chromedp.Call(browser, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	open("plain/index.html")
	if n, rows, dots := count("button.sort"), count("#mirrors tbody tr"), count("svg.map circle.dot"); n != 0 || rows != len(inv.Mirrors)-1 || dots != len(inv.Mirrors)-1 {
		t.Errorf("with JavaScript off: %d sort buttons (want 0: the script did not run), %d rows and %d dots (want %d)", n, rows, dots, len(inv.Mirrors)-1)
	}
	if _, err := chromedp.Call(browser, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false}); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	for _, p := range problems {
		t.Errorf("browser: %s", p)
	}
	seen := len(problems)
	mu.Unlock()

	// The watch works: a missing page is an error in the console.
	chromedp.Do(browser, chromedp.Navigate(srv.URL+"/verified/no-such-page.html"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(problems)
		mu.Unlock()
		if n > seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a 404 did not show up as a console error: the check for console errors sees nothing")
		}
	}

	// Every template in every state, through the validator.
	var pages []string
	for _, p := range []string{"index.html", "countries.html", "country/DE.html", "country/NZ.html", "country/JP.html", "country/AQ.html"} {
		pages = append(pages, filepath.Join(verified, p), filepath.Join(plain, p))
	}
	mirrors, _ := filepath.Glob(filepath.Join(verified, "mirror", "*.html"))
	pages = append(pages, mirrors...)
	pages = append(pages, filepath.Join(plain, "mirror", "ftp.de.example.net.html"))
	conf := filepath.Join(dir, "htmlvalidate.json")
	if err := os.WriteFile(conf, []byte(`{"extends": ["html-validate:recommended"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(validator, append([]string{"--config", conf}, pages...)...).CombinedOutput()
	if err != nil {
		t.Errorf("html-validate on %d pages: %v\n%s", len(pages), err, out)
	}
}

// findChromium returns Debian's Chromium. Its absence is a failure, not a
// skip: the site is only tested in a browser.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: the status site is tested in headless Chromium; install Debian's chromium and chromium-driver (.ci/run does)")
	return ""
}

// saveArtifact keeps data for a person to look at: under -outputdir with
// go test -artifacts, else in a fixed place in the temporary directory.
// The path is in the log.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := filepath.Join(os.TempDir(), "mirrorsteer-artifacts")
	if f := flag.Lookup("test.artifacts"); f != nil && f.Value.String() == "true" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}
