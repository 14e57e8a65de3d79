package test

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"

	"github.com/mirrorsteer/mirrorsteer/internal/localmirror"
)

// The deploy/ files are run here as they run in production: the refresh
// script on local mirrors, the CI workflows' own commands, the systemd
// units through systemd-analyze, the container image with podman.

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// refreshNet is a healthy and a stale mirror on loopback, and the probe
// flags that reach them (their addresses, their CA).
type refreshNet struct {
	n          *localmirror.Network
	inventory  string
	probeFlags string
}

func newRefreshNet(t *testing.T, base string) *refreshNet {
	t.Helper()
	n, err := localmirror.Start(localmirror.Options{Base: netip.MustParseAddr(base), Mirrors: []localmirror.Spec{
		{Name: "good", Protocols: []string{"http", "https"}},
		{Behaviour: localmirror.Stale},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return &refreshNet{n: n, inventory: n.Inventory(),
		probeFlags: strings.Join(append([]string{"--timeout", "2s", "--ca-file", n.CAFile()}, n.ResolveFlags()...), " ")}
}

// run runs name with args in dir with env added to the test's own, and
// returns its combined output and exit status.
func run(t *testing.T, dir string, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), code
}

func checkTree(t *testing.T, out string) {
	t.Helper()
	list := readFile(t, filepath.Join(out, "mirrorlist", "baseos", "9", "x86_64", "global.txt"))
	if !strings.Contains(list, "good.mirrors.test") || strings.Contains(list, "stale.mirrors.test") {
		t.Errorf("%s/.../global.txt lists the wrong mirrors:\n%s", out, list)
	}
}

// TestRefreshScript: probe, gen, publish; and a failed probe stops before
// gen, so neither the tree nor what was published changes.
func TestRefreshScript(t *testing.T) {
	net := newRefreshNet(t, "127.0.0.160")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mirrors.toml"), []byte(net.inventory), 0o644)
	env := []string{"MIRRORSTEER=" + binary, "CONFIG=mirrors.toml", "STATE=state.json", "OUT=out",
		"GEOIP_CITY=", "GEOIP_ASN=", "PROBE_FLAGS=" + net.probeFlags, `PUBLISH=echo "$OUT" >> published`}
	script := filepath.Join(repoRoot(t), "deploy", "refresh.sh")
	if out, code := run(t, dir, env, script); code != 0 {
		t.Fatalf("refresh.sh exit %d:\n%s", code, out)
	}
	checkTree(t, filepath.Join(dir, "out"))
	if got := readFile(t, filepath.Join(dir, "published")); got != "out\n" {
		t.Errorf("PUBLISH ran %q times with OUT, want once with out", got)
	}

	manifest := filepath.Join(dir, "out", "manifest.json")
	before, _ := os.Stat(manifest)
	content := readFile(t, manifest)
	net.n.Origin().SetBehaviour(localmirror.ServerError)
	out, code := run(t, dir, env, script)
	if code == 0 || !strings.Contains(out, "previous one is kept") {
		t.Errorf("refresh.sh with the origin down: exit %d, want non-zero:\n%s", code, out)
	}
	after, _ := os.Stat(manifest)
	if readFile(t, manifest) != content || !after.ModTime().Equal(before.ModTime()) {
		t.Error("a failed probe changed the tree")
	}
	if got := readFile(t, filepath.Join(dir, "published")); got != "out\n" {
		t.Errorf("a failed probe published: %q", got)
	}
}

func TestDeployScriptsPassShellcheck(t *testing.T) {
	needTool(t, "shellcheck", "shellcheck")
	scripts, _ := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "*.sh"))
	if len(scripts) < 4 {
		t.Fatalf("deploy scripts: %v", scripts)
	}
	if out, code := run(t, ".", nil, "shellcheck", scripts...); code != 0 {
		t.Errorf("shellcheck:\n%s", out)
	}
}

// workspace lays out a CI checkout: the operator's repository (its
// mirrors.toml) with mirrorsteer checked out in .mirrorsteer, as the
// workflows' checkout steps do.
func workspace(t *testing.T, net *refreshNet) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mirrors.toml"), []byte(net.inventory), 0o644)
	if err := os.Symlink(repoRoot(t), filepath.Join(dir, ".mirrorsteer")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// expr is a GitHub Actions expression; in env values the test reads them
// as unset secrets.
var expr = regexp.MustCompile(`\$\{\{[^}]*\}\}`)

func envOf(t *testing.T, m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+expr.ReplaceAllString(v, ""))
	}
	return out
}

func ciEnv(net *refreshNet) []string {
	// The runner's environment: the mirrors are on loopback, VCS stamping
	// needs a real clone, GeoIP secrets are unset.
	return []string{"PROBE_FLAGS=" + net.probeFlags, "GOFLAGS=-buildvcs=false", "GEOIPUPDATE_ACCOUNT_ID=", "GEOIPUPDATE_LICENSE_KEY="}
}

type ghWorkflow struct {
	Env  map[string]string
	Jobs map[string]struct {
		Env   map[string]string
		Needs any
		Steps []struct {
			Name, Uses, Run string
			Env             map[string]string
			With            map[string]string
		}
	}
}

// TestGitHubWorkflowRunsItsSteps runs every run: step of the GitHub
// Actions workflow, word for word, on local mirrors, and checks that each
// uses: step is one whose effect the test provides.
func TestGitHubWorkflowRunsItsSteps(t *testing.T) {
	var wf ghWorkflow
	if err := yaml.Unmarshal([]byte(readFile(t, "../deploy/ci/github-actions.yml")), &wf); err != nil {
		t.Fatal(err)
	}
	net := newRefreshNet(t, "127.0.0.170")
	dir := workspace(t, net)
	env := append(ciEnv(net), envOf(t, wf.Env)...)
	refresh, ok := wf.Jobs["refresh"]
	if !ok {
		t.Fatal("no refresh job")
	}
	env = append(env, envOf(t, refresh.Env)...)
	artifact := ""
	ran := 0
	for _, s := range refresh.Steps {
		switch {
		case s.Run != "":
			if expr.MatchString(s.Run) {
				t.Fatalf("step %q: a run: command with an expression cannot be run here; put it in env", s.Name)
			}
			out, code := run(t, dir, append(env, envOf(t, s.Env)...), "bash", "-e", "-c", s.Run)
			if code != 0 {
				t.Fatalf("step %q (%s): exit %d:\n%s", s.Name, s.Run, code, out)
			}
			ran++
		case s.Uses == "actions/checkout@v4", s.Uses == "actions/setup-go@v5",
			s.Uses == "actions/cache/restore@v4", s.Uses == "actions/cache/save@v4":
			// The workspace and go are there; the cache is the workspace.
		case s.Uses == "actions/upload-pages-artifact@v3":
			artifact = s.With["path"]
		default:
			t.Fatalf("step uses %q: the test does not know what it does; teach TestGitHubWorkflowRunsItsSteps", s.Uses)
		}
	}
	if ran != 3 || artifact == "" {
		t.Fatalf("%d run: steps and artifact %q, want 3 and the tree", ran, artifact)
	}
	checkTree(t, filepath.Join(dir, artifact))
	for name, job := range wf.Jobs {
		if name == "refresh" {
			continue
		}
		for _, s := range job.Steps {
			if s.Uses != "actions/deploy-pages@v4" {
				t.Errorf("job %s: step %q %q is not the Pages deployment", name, s.Name, s.Uses)
			}
		}
	}
}

// TestGitHubWorkflowLints runs actionlint (with shellcheck on the run:
// steps) on the workflow.
func TestGitHubWorkflowLints(t *testing.T) {
	needTool(t, "shellcheck", "shellcheck")
	wf, _ := filepath.Abs("../deploy/ci/github-actions.yml")
	out, code := run(t, t.TempDir(), nil, "go", "run", "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12", wf)
	if code != 0 {
		t.Errorf("actionlint:\n%s", out)
	}
}

type glJob struct {
	Variables    map[string]string
	BeforeScript []string `yaml:"before_script"`
	Script       []string
	Artifacts    struct{ Paths []string }
}

// TestGitLabJobRunsItsScript runs the script: lines of the GitLab CI job
// word for word on local mirrors. Its before_script fetches mirrorsteer,
// which the workspace holds already.
func TestGitLabJobRunsItsScript(t *testing.T) {
	var doc map[string]yaml.Node
	if err := yaml.Unmarshal([]byte(readFile(t, "../deploy/ci/gitlab-ci.yml")), &doc); err != nil {
		t.Fatal(err)
	}
	var vars map[string]string
	var job glJob
	if n, ok := doc["variables"]; !ok || n.Decode(&vars) != nil {
		t.Fatal("no top-level variables")
	}
	if n, ok := doc["pages"]; !ok || n.Decode(&job) != nil {
		t.Fatal("no pages job")
	}
	if want := []string{`git clone --depth 1 --branch "$MIRRORSTEER_REF" https://github.com/mirrorsteer/mirrorsteer.git .mirrorsteer`}; !slicesEqual(job.BeforeScript, want) {
		t.Fatalf("before_script %q: the test lays out .mirrorsteer itself and knows only %q", job.BeforeScript, want)
	}
	net := newRefreshNet(t, "127.0.0.180")
	dir := workspace(t, net)
	env := append(ciEnv(net), envOf(t, vars)...)
	env = append(env, envOf(t, job.Variables)...)
	for _, line := range job.Script {
		out, code := run(t, dir, env, "bash", "-e", "-o", "pipefail", "-c", line)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s", line, code, out)
		}
	}
	if len(job.Artifacts.Paths) != 1 || job.Artifacts.Paths[0] != "public" {
		t.Fatalf("artifacts %v: GitLab Pages publishes public/", job.Artifacts.Paths)
	}
	checkTree(t, filepath.Join(dir, "public"))
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

// systemdRoot is a file system root for systemd-analyze --root: the
// system's own units, the binary and the script where the units expect
// them, and the units under test.
func systemdRoot(t *testing.T) string {
	t.Helper()
	needTool(t, "systemd-analyze", "systemd")
	root := t.TempDir()
	sysUnits := "/lib/systemd/system"
	if _, err := os.Stat(sysUnits); err != nil {
		sysUnits = "/usr/lib/systemd/system"
	}
	for _, c := range [][]string{
		{"mkdir", "-p", root + "/lib/systemd", root + "/usr/local/bin", root + "/usr/local/lib/mirrorsteer", root + "/etc/systemd/system", root + "/bin"},
		{"cp", "-a", sysUnits, root + "/lib/systemd/"},
		{"cp", binary, root + "/usr/local/bin/mirrorsteer"},
		{"cp", "../deploy/refresh.sh", root + "/usr/local/lib/mirrorsteer/refresh.sh"},
		{"cp", "/bin/kill", root + "/bin/kill"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	units, _ := filepath.Glob("../deploy/systemd/*")
	for _, u := range units {
		os.WriteFile(filepath.Join(root, "etc/systemd/system", filepath.Base(u)), []byte(readFile(t, u)), 0o644)
	}
	return root
}

// TestSystemdUnitsVerify: systemd-analyze verify finds nothing to say
// about the units (an unknown key, a missing binary, a bad timer), and
// the services' exposure (systemd-analyze security) stays low.
func TestSystemdUnitsVerify(t *testing.T) {
	root := systemdRoot(t)
	units := []string{"mirrorsteer-dnsd.service", "mirrorsteer-refresh.service", "mirrorsteer-refresh.timer"}
	out, code := run(t, ".", nil, "systemd-analyze", append([]string{"verify", "--root=" + root}, units...)...)
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: exit %d:\n%s", code, out)
	}
	// The same root without the binary: verify must notice, or this test
	// proves nothing.
	os.Remove(filepath.Join(root, "usr/local/bin/mirrorsteer"))
	if out, code := run(t, ".", nil, "systemd-analyze", "verify", "--root="+root, units[0]); code == 0 {
		t.Errorf("verify passed without the binary:\n%s", out)
	}
	os.WriteFile(filepath.Join(root, "usr/local/bin/mirrorsteer"), []byte("#!/bin/sh\n"), 0o755)

	score := regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)
	for _, u := range units[:2] {
		out, code := run(t, ".", nil, "systemd-analyze", "security", "--offline=true", "--root="+root, u)
		m := score.FindStringSubmatch(out)
		if code != 0 || m == nil {
			t.Fatalf("systemd-analyze security %s: exit %d:\n%s", u, code, out)
		}
		level, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("systemd-analyze security %s: %s", u, m[2])
		if level > 2.0 {
			t.Errorf("%s: exposure %v, want at most 2.0 (OK):\n%s", u, level, out)
		}
	}
}

// TestSystemdUnitsSay checks what the issue asks of each unit, rule by
// rule.
func TestSystemdUnitsSay(t *testing.T) {
	tests := []struct {
		unit, rule, line string
	}{
		{"mirrorsteer-dnsd.service", "binds port 53 without root", "AmbientCapabilities=CAP_NET_BIND_SERVICE"},
		{"mirrorsteer-dnsd.service", "and with no other capability", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE"},
		{"mirrorsteer-dnsd.service", "a dynamic user", "DynamicUser=yes"},
		{"mirrorsteer-dnsd.service", "the file system read-only", "ProtectSystem=strict"},
		{"mirrorsteer-dnsd.service", "reload is SIGHUP", "ExecReload=/bin/kill -HUP $MAINPID"},
		{"mirrorsteer-dnsd.service", "restarts on failure", "Restart=on-failure"},
		{"mirrorsteer-dnsd.service", "reads the refresh job's snapshot", "ExecStart=/usr/local/bin/mirrorsteer dnsd -c /etc/mirrorsteer/mirrors.toml -s /var/lib/mirrorsteer/state.json"},
		{"mirrorsteer-refresh.service", "runs the script the CI jobs run", "ExecStart=/usr/local/lib/mirrorsteer/refresh.sh"},
		{"mirrorsteer-refresh.service", "a one-shot job", "Type=oneshot"},
		{"mirrorsteer-refresh.service", "writes where dnsd reads", "Environment=STATE=/var/lib/mirrorsteer/state.json"},
		{"mirrorsteer-refresh.service", "as the same dynamic user", "User=mirrorsteer"},
		{"mirrorsteer-refresh.timer", "runs never overlap", "OnUnitInactiveSec=5min"},
	}
	for _, tt := range tests {
		t.Run(tt.unit+"/"+tt.rule, func(t *testing.T) {
			text := readFile(t, "../deploy/systemd/"+tt.unit)
			if !strings.Contains("\n"+text, "\n"+tt.line) {
				t.Errorf("%s lacks a line starting %q", tt.unit, tt.line)
			}
		})
	}
}

// podmanFlags are what podman run needs on this project's machines: their
// cgroup v1 hybrid layout is not crun's, and their hard limits are below
// podman's default ulimits.
const podmanFlags = "--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024"

// TestContainerImage builds the image FROM scratch (nothing pulled), and
// runs it as the refresh job (probe and gen through refresh.sh) and as
// dnsd, answering a query over UDP.
func TestContainerImage(t *testing.T) {
	needTool(t, "podman", "podman")
	needTool(t, "runc", "runc")
	image := fmt.Sprintf("localhost/mirrorsteer-test:%d", os.Getpid())
	t.Cleanup(func() { exec.Command("podman", "rmi", "-f", image).Run() })
	if out, code := run(t, "..", []string{"IMAGE=" + image}, "deploy/container-build.sh"); code != 0 {
		t.Fatalf("container-build.sh: exit %d:\n%s", code, out)
	}
	out, code := run(t, ".", nil, "podman", "image", "inspect", "--format", "{{.Config.User}} {{len .RootFS.Layers}}", image)
	if code != 0 || strings.TrimSpace(out) != "65532:65532 2" {
		t.Errorf("image user and layers: %q, want 65532:65532 and 2 (the CA bundle and the binary)", out)
	}

	// The refresh job: refresh.sh on the host, mirrorsteer in the image.
	net := newRefreshNet(t, "127.0.0.190")
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // the image's user writes state.json and out/ here
	os.WriteFile(filepath.Join(dir, "mirrors.toml"), []byte(net.inventory), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte(readFile(t, net.n.CAFile())), 0o644)
	flags := strings.Replace(net.probeFlags, net.n.CAFile(), filepath.Join(dir, "ca.pem"), 1)
	env := []string{"MIRRORSTEER=" + filepath.Join(repoRoot(t), "deploy", "podman-mirrorsteer.sh"), "MIRRORSTEER_DATA=" + dir,
		"IMAGE=" + image, "PODMAN_FLAGS=" + podmanFlags, "CONFIG=" + dir + "/mirrors.toml", "STATE=" + dir + "/state.json",
		"OUT=" + dir + "/out", "GEOIP_CITY=", "GEOIP_ASN=", "PROBE_FLAGS=" + flags}
	if out, code := run(t, dir, env, filepath.Join(repoRoot(t), "deploy", "refresh.sh")); code != 0 {
		t.Fatalf("refresh.sh with the image: exit %d:\n%s", code, out)
	}
	checkTree(t, filepath.Join(dir, "out"))

	// dnsd, on a port the kernel picks, found in its log.
	dn := newDnsdNet(t, nil)
	ddir := t.TempDir()
	os.Chmod(ddir, 0o755)
	for _, f := range []string{"mirrors.toml", "example.org.zone", "state.json"} {
		os.WriteFile(filepath.Join(ddir, f), []byte(readFile(t, filepath.Join(dn.dir, f))), 0o644)
	}
	name := fmt.Sprintf("mirrorsteer-dnsd-test-%d", os.Getpid())
	args := append([]string{"run", "-d", "--name", name, "--network=host", "-v", ddir + ":" + ddir}, strings.Fields(podmanFlags)...)
	args = append(args, image, "dnsd", "-c", ddir+"/mirrors.toml", "-s", ddir+"/state.json", "-l", "127.0.0.1:0", "--metrics", "")
	if out, code := run(t, ".", nil, "podman", args...); code != 0 {
		t.Fatalf("podman run dnsd: exit %d:\n%s", code, out)
	}
	t.Cleanup(func() { exec.Command("podman", "rm", "-f", name).Run() })
	listening := regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`)
	var addr, logs string
	for end := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		logs, _ = run(t, ".", nil, "podman", "logs", name)
		if m := listening.FindStringSubmatch(logs); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("dnsd in the container never listened:\n%s", logs)
	}
	m := new(dns.Msg)
	m.SetQuestion("download.example.org.", dns.TypeCNAME)
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query to dnsd in the container: %v\n%s", err, logs)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		t.Fatalf("answer from dnsd in the container:\n%v", r)
	}
	if cn, ok := r.Answer[0].(*dns.CNAME); !ok || !strings.HasSuffix(cn.Target, ".example.net.") {
		t.Errorf("answer %v, want a CNAME to one of the test mirrors", r.Answer[0])
	}
}
