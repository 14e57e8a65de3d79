package policy_test

import (
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/policy"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// Issue 10, item 2: one function decides the URL a mirror is given by,
// for the purpose its Set was made for.
func TestChoiceURL(t *testing.T) {
	inv := network(t, "", mirror{"m.test", "DE", `http = "http://m.test/pub/"
ftp = "ftp://m.test/pub/"
rsync = "rsync://m.test/pub/"`})
	// https fails over IPv4 only.
	snap := statetest.Healthy(inv, func(_ string, e *state.Endpoint) {
		if e.Protocol == inventory.HTTPS && e.Family == inventory.IPv4 {
			e.Healthy = false
		}
	})
	tests := []struct {
		name   string
		snap   *state.Snapshot
		protos []inventory.Protocol
		fam    inventory.Family
		want   string
	}{
		{"a list: https where it is healthy", snap, nil, inventory.IPv6, "https://m.test/pub/"},
		{"a list: http where https is not", snap, nil, inventory.IPv4, "http://m.test/pub/"},
		{"a list without a snapshot: https", nil, nil, inventory.IPv4, "https://m.test/pub/"},
		{"an http name: http though https is healthy", snap, []inventory.Protocol{inventory.HTTP}, inventory.IPv6, "http://m.test/pub/"},
		{"an ftp name: ftp", snap, []inventory.Protocol{inventory.FTP}, inventory.IPv4, "ftp://m.test/pub/"},
		{"an rsync name: rsync", snap, []inventory.Protocol{inventory.Rsync}, inventory.IPv4, "rsync://m.test/pub/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := policy.NewSet(inv, tt.snap, policy.Want{Protocols: tt.protos}).Select(policy.Client{Family: tt.fam, Country: "DE"})
			if len(cs) != 1 {
				t.Fatalf("%d choices, want 1", len(cs))
			}
			if got := cs[0].URL(); got != tt.want {
				t.Errorf("URL() = %q, want %q", got, tt.want)
			}
			if got := string(cs[0].Protocol()); got+"://m.test/pub/" != tt.want {
				t.Errorf("Protocol() = %q, want the URL's scheme", got)
			}
		})
	}
}
