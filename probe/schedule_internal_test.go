package probe

import (
	"slices"
	"syscall"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

func TestConcurrencyFitsTheOpenFileLimit(t *testing.T) {
	tests := []struct {
		rule      string
		want, n   int
		fdLimit   uint64
		c         int
		isLowered bool
	}{
		{"what is asked, when the files allow it", 2048, 10000, 1 << 20, 2048, false},
		{"no more than there are endpoints", 2048, 100, 1 << 20, 100, false},
		{"no more than 3 files an endpoint allow, beside the reserve", 2048, 10000, 1024, (1024 - 64) / 3, true},
		{"CI's usual 1024 leaves room for 320", 100000, 100000, 1024, 320, true},
		{"at least one, however few the files", 2048, 10000, 10, 1, true},
		{"an unknown limit changes nothing", 2048, 10000, 0, 2048, false},
		{"a limit that allows more is not lowered to", 16, 10000, 1 << 20, 16, false},
	}
	for _, tt := range tests {
		c, lowered := concurrency(tt.want, tt.n, tt.fdLimit)
		if c != tt.c || lowered != tt.isLowered {
			t.Errorf("%s: concurrency(%d, %d, %d) = %d, %v; want %d, %v", tt.rule, tt.want, tt.n, tt.fdLimit, c, lowered, tt.c, tt.isLowered)
		}
	}
}

// TestTheOpenFileLimitIsTheHardOne: Go raises the soft limit to the
// hard one when a program starts, so probe's concurrency is sized from
// what the system allows, not from a shell's default of 1024.
func TestTheOpenFileLimitIsTheHardOne(t *testing.T) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	// Go leaves it one below, to notice another process changing it.
	if got := openFileLimit(); got+1 < uint64(l.Max) {
		t.Errorf("open-file limit %d, hard limit %d: the soft limit was not raised", got, l.Max)
	}
}

func TestEndpointsThatTimedOutStartFirst(t *testing.T) {
	prev := func(c state.Class) *state.Endpoint { return &state.Endpoint{Class: c} }
	jobs := []job{{}, {prev: prev(state.ClassRefused)}, {prev: prev(state.ClassTimeout)}, {prev: prev("")}, {prev: prev(state.ClassTimeout)}}
	if got, want := startOrder(jobs), []int{2, 4, 0, 1, 3}; !slices.Equal(got, want) {
		t.Errorf("start order %v, want %v: the previous timeouts first, then the rest, each in inventory order", got, want)
	}
}
