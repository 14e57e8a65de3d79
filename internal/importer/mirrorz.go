package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// MirrorZ describes which distribution to take from MirrorZ site files,
// which list every repository a site carries.
type MirrorZ struct {
	// Cname is the repository's name in the sites' mirrors lists
	// ("almalinux", "archlinux"); its url there ("/almalinux") is the
	// path on every endpoint of the site.
	Cname string
	// Country is written for every mirror, since the format has no
	// country: MirrorZ's sites are in China, but the import does not
	// guess. "" leaves the mirrors without one.
	Country country.Code
}

// The parts of a mirrorz.d.json that the import reads: the "D" extension
// (endpoints) and the site and mirrors of mirrorz.json.
type mzFile struct {
	Extension string       `json:"extension"`
	Endpoints []mzEndpoint `json:"endpoints"`
	Site      *mzSite      `json:"site"`
	Mirrors   []mzMirror   `json:"mirrors"`
}

type mzEndpoint struct {
	Label   string   `json:"label"`
	Public  *bool    `json:"public"`
	Resolve string   `json:"resolve"`
	Filter  []string `json:"filter"`
	Range   []string `json:"range"`
}

type mzSite struct {
	URL      string `json:"url"`
	Abbr     string `json:"abbr"`
	Name     string `json:"name"`
	Homepage string `json:"homepage"`
	Disable  any    `json:"disable"`
}

type mzMirror struct {
	Cname   string `json:"cname"`
	URL     string `json:"url"`
	Disable any    `json:"disable"`
}

// ReadMirrorZ reads MirrorZ site files (mirrorz.d.json, one per site):
// each path is a file or a directory of *.json files. Every endpoint of a
// site that carries z.Cname becomes a mirror.
func ReadMirrorZ(paths []string, z MirrorZ) (*Result, error) {
	r := &Result{Format: "mirrorz", Inputs: paths}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			r.readMirrorZFile(filepath.ToSlash(p), p, z)
			continue
		}
		err = filepath.WalkDir(p, func(full string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(p, full)
			source := filepath.ToSlash(filepath.Join(p, rel))
			switch {
			case d.IsDir() && strings.HasPrefix(d.Name(), ".") && full != p:
				return filepath.SkipDir
			case d.IsDir() || strings.HasPrefix(d.Name(), "."):
			case !strings.HasSuffix(d.Name(), ".json"):
				r.skipFile(source, "not a .json file")
			case !d.Type().IsRegular():
				r.skipFile(source, "not a regular file")
			default:
				r.readMirrorZFile(source, full, z)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *Result) readMirrorZFile(source, full string, z MirrorZ) {
	r.Files++
	data, err := fileio.ReadFile(full, maxSourceFile)
	if err != nil {
		r.skipFile(source, "%v", reason(err))
		return
	}
	r.ParseMirrorZ(source, data, z)
}

// label is what a MirrorZ label becomes: mirrorz-302 drops its "-", and a
// mirrors.toml label is letters and digits.
var label = regexp.MustCompile(`^[a-z0-9]{1,63}$`)

// ParseMirrorZ reads one site file held in data, named source in notes,
// and adds a mirror per endpoint.
func (r *Result) ParseMirrorZ(source string, data []byte, z MirrorZ) {
	var f mzFile
	if err := json.Unmarshal(data, &f); err != nil {
		r.skipFile(source, "%s", jsonError(data, err))
		return
	}
	if f.Extension != "D" && f.Extension != "" {
		r.skipFile(source, "extension %q: a mirrorz.d.json has \"extension\": \"D\"", f.Extension)
		return
	}
	if len(f.Endpoints) == 0 {
		r.skipFile(source, "no endpoints: this is not a mirrorz.d.json (a plain mirrorz.json has no endpoints to send clients to)")
		return
	}
	site := mzSite{}
	if f.Site != nil {
		site = *f.Site
	}
	if truthy(site.Disable) {
		r.skipFile(source, "the site %s is disabled (site.disable)", quote(site.Abbr))
		return
	}
	var repo *mzMirror
	for i := range f.Mirrors {
		if f.Mirrors[i].Cname == z.Cname {
			repo = &f.Mirrors[i]
			break
		}
	}
	switch {
	case repo == nil:
		r.skipFile(source, "the site %s does not list %q in its mirrors", quote(site.Abbr), z.Cname)
		return
	case truthy(repo.Disable):
		r.skipFile(source, "the site %s has %q disabled", quote(site.Abbr), z.Cname)
		return
	}
	repoPath, err := cnamePath(repo.URL)
	if err != nil {
		r.skipFile(source, "mirrors entry %q: %v", z.Cname, err)
		return
	}
	defaultSchemes := []inventory.Protocol{inventory.HTTPS}
	if u, err := url.Parse(site.URL); err == nil && u.Scheme == "http" {
		defaultSchemes = []inventory.Protocol{inventory.HTTP}
	}
	sponsorURL := site.Homepage
	if sponsorURL == "" {
		sponsorURL = site.URL
	}
	for i, e := range f.Endpoints {
		subject := fmt.Sprintf("endpoint %s", quote(e.Label))
		if e.Label == "" {
			subject = fmt.Sprintf("endpoint %d", i+1)
		}
		m := &Mirror{Source: source, Subject: subject, Sponsor: site.Name, SponsorURL: sponsorURL,
			Public: e.Public == nil || *e.Public, URLs: map[inventory.Protocol]string{}}
		if z.Country != "" {
			m.CountryText = string(z.Country)
		}
		if e.Public == nil {
			r.note(m, "no \"public\"; taken as public")
		}
		resolve := strings.TrimSpace(e.Resolve)
		if resolve == "" || strings.Contains(resolve, "://") {
			r.leaveOut(m, "resolve %s is not host[:port][/path]", quote(e.Resolve))
			continue
		}
		hostPort, basePath, _ := strings.Cut(resolve, "/")
		if basePath != "" {
			basePath = "/" + strings.Trim(basePath, "/")
		}
		host := hostPort
		if h, _, err := splitHostPort(hostPort); err == nil {
			host = h
		}
		m.Name = strings.ToLower(host)
		if l := strings.ToLower(strings.ReplaceAll(e.Label, "-", "")); l != "" {
			if label.MatchString(l) {
				m.Label = l
			} else {
				r.note(m, "label %s is not letters and digits; no label written", quote(e.Label))
			}
		}
		schemes := map[inventory.Protocol]bool{}
		for _, fl := range e.Filter {
			switch {
			case fl == "SSL":
				schemes[inventory.HTTPS] = true
			case fl == "NOSSL":
				schemes[inventory.HTTP] = true
			case fl == "V4" || fl == "V6":
				// probe measures each address family itself.
			default:
				r.note(m, "filter %s not imported: mirrorsteer restricts private mirrors by asn and subnets only", quote(fl))
			}
		}
		if len(schemes) == 0 {
			for _, p := range defaultSchemes {
				schemes[p] = true
			}
			r.note(m, "no SSL or NOSSL filter; %s assumed from the site's url", defaultSchemes[0])
		}
		for p := range schemes {
			m.URLs[p] = string(p) + "://" + hostPort + basePath + repoPath
		}
		for _, rg := range e.Range {
			rg = strings.TrimSpace(rg)
			switch {
			case strings.HasPrefix(rg, "REGION:") || strings.HasPrefix(rg, "ISP:"):
				r.note(m, "range %s not imported: mirrorsteer matches clients by asn and subnets only", quote(rg))
			case len(rg) > 2 && strings.EqualFold(rg[:2], "AS") && isDigits(rg[2:]):
				n, err := strconv.ParseUint(rg[2:], 10, 32)
				if err != nil || n == 0 || n == 23456 {
					r.note(m, "range %s is not an AS number; ignored", quote(rg))
					continue
				}
				m.ASNs = append(m.ASNs, uint32(n))
			case strings.Contains(rg, "/") || strings.Contains(rg, ":") || strings.Count(rg, ".") == 3:
				if p, ok := r.prefix(m, 0, rg); ok {
					m.Subnets = append(m.Subnets, p)
				}
			case rg == "V4" || rg == "V6":
			default:
				r.note(m, "range %s not imported: mirrorsteer matches clients by asn and subnets only", quote(rg))
			}
		}
		r.Mirrors = append(r.Mirrors, m)
	}
	r.nameCollisions(source)
}

// nameCollisions gives endpoints of one site that resolve to the same host
// (another port, another path) names of their own: host-label.
func (r *Result) nameCollisions(source string) {
	seen := map[string]bool{}
	for _, m := range r.Mirrors {
		if m.Source != source {
			continue
		}
		if seen[m.Name] && m.Label != "" {
			name := m.Name + "-" + m.Label
			r.note(m, "host %s is another endpoint's too; named %q", m.Name, name)
			m.Name = name
		}
		seen[m.Name] = true
	}
}

// cnamePath turns a mirrors entry's url ("/almalinux", or a full URL) into
// the path appended to an endpoint.
func cnamePath(s string) (string, error) {
	if s == "" {
		return "", errors.New("no url")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("url %s is not a URL", quote(s))
	}
	p := "/" + strings.Trim(u.Path, "/")
	if p != "/" {
		p += "/"
	}
	return p, nil
}

func splitHostPort(s string) (host, port string, err error) {
	u, err := url.Parse("http://" + s)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// truthy reads MirrorZ's "disable", which sites write as true or "true".
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, _ := strconv.ParseBool(x)
		return b
	}
	return false
}

// jsonError names the line and column of a JSON error.
func jsonError(data []byte, err error) string {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
		err = fmt.Errorf("%s is a JSON %s, not a %s", te.Field, te.Value, te.Type)
	}
	if off < 0 || off > int64(len(data)) {
		return "not JSON: " + err.Error()
	}
	line := 1 + strings.Count(string(data[:off]), "\n")
	col := int(off) - strings.LastIndexByte(string(data[:off]), '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, strings.TrimPrefix(err.Error(), "json: "))
}
