package gen_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// TestListsOfEachFamilyFollowItsHealth: gen ranks a list once for both
// families only where every mirror is as healthy over one as over the
// other. A mirror down over IPv6, or reachable there over http only,
// gives the IPv6 lists their own answers.
func TestListsOfEachFamilyFollowItsHealth(t *testing.T) {
	const v4, v6 = "mirrorlist/os/1/x86_64/DE.txt", "mirrorlist/os/1/x86_64/v6/DE.txt"
	tests := []struct {
		name   string
		edit   func(m string, e *state.Endpoint) // nil: no snapshot
		v4, v6 string                            // the lists' URLs, after their comment
	}{
		{"no snapshot: the same lists", nil,
			"https://de1.test/pub/1/os/x86_64/\nhttps://de2.test/pub/1/os/x86_64/\n",
			"https://de1.test/pub/1/os/x86_64/\nhttps://de2.test/pub/1/os/x86_64/\n"},
		{"de1 down over IPv6", func(m string, e *state.Endpoint) { e.Healthy = !(m == "de1" && e.Family == state.IPv6) },
			"https://de1.test/pub/1/os/x86_64/\nhttps://de2.test/pub/1/os/x86_64/\n",
			"https://de2.test/pub/1/os/x86_64/\nhttps://us1.test/pub/1/os/x86_64/\nhttp://au1.test/pub/1/os/x86_64/\n"},
		{"de1 over http only for IPv6", func(m string, e *state.Endpoint) {
			e.Healthy = !(m == "de1" && e.Family == state.IPv6 && e.Protocol == state.HTTPS)
		},
			"https://de1.test/pub/1/os/x86_64/\nhttps://de2.test/pub/1/os/x86_64/\n",
			"http://de1.test/pub/1/os/x86_64/\nhttps://de2.test/pub/1/os/x86_64/\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			inv := load(t, header+mirrors)
			o := gen.Options{Inventory: inv, Out: out}
			if tt.edit != nil {
				o.Snapshot = statetest.Healthy(inv, tt.edit)
			}
			run(t, o)
			for _, f := range []struct{ path, want string }{{v4, tt.v4}, {v6, tt.v6}} {
				_, urls, _ := strings.Cut(read(t, out, f.path), "\n")
				if urls != f.want {
					t.Errorf("%s:\n%s\nwant\n%s", f.path, urls, f.want)
				}
			}
		})
	}
}
