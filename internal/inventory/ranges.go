package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// ReadRanges reads the networks a mirror serves first from a file: either
// plain text, one CIDR prefix a line ("#" starts a comment), or JSON, in
// which every string that is a CIDR prefix counts wherever it stands. The
// JSON rule reads the published ranges of AWS (ip-ranges.json), Google
// Cloud (cloud.json), Azure service tags and Oracle alike without knowing
// their layouts; cut such a file down to the regions a mirror serves
// before pointing at it (for example with jq).
func ReadRanges(path string) ([]netip.Prefix, error) {
	data, err := fileio.ReadFile(path, fileio.MaxRanges)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, reason(err))
	}
	var out []netip.Prefix
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		var doc any
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: not valid JSON: %v", path, err)
		}
		collectPrefixes(doc, &out)
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: no CIDR prefix found in the JSON document", path)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		line := 1
		for ; sc.Scan(); line++ {
			s := sc.Text()
			if i := strings.IndexByte(s, '#'); i >= 0 {
				s = s[:i]
			}
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %q is not a CIDR prefix; one prefix a line, e.g. 192.0.2.0/24", path, line, s)
			}
			if p != p.Masked() {
				return nil, fmt.Errorf("%s:%d: %q has host bits set; write %s", path, line, s, p.Masked())
			}
			out = append(out, p)
		}
		if errors.Is(sc.Err(), bufio.ErrTooLong) {
			// Without this check the scan would just stop there.
			return nil, fmt.Errorf("%s:%d: line longer than %d KiB; one prefix a line, e.g. 192.0.2.0/24", path, line, bufio.MaxScanTokenSize>>10)
		} else if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return slices.Compact(out), nil
}

func collectPrefixes(v any, out *[]netip.Prefix) {
	switch x := v.(type) {
	case string:
		if p, err := netip.ParsePrefix(x); err == nil {
			*out = append(*out, p.Masked())
		}
	case []any:
		for _, e := range x {
			collectPrefixes(e, out)
		}
	case map[string]any:
		for _, e := range x {
			collectPrefixes(e, out)
		}
	}
}
