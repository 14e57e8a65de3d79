package inventory

import (
	"regexp"
	"strings"
	"testing"
)

// TestDNSLabel: dnsLabel accepts exactly what the pattern of RFC 1123
// labels does, for every string of up to 4 characters over letters,
// digits, hyphens and a few others, and at the length limits.
func TestDNSLabel(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	check := func(l string) {
		if got, want := dnsLabel(l), pattern.MatchString(l); got != want {
			t.Fatalf("dnsLabel(%q) = %v, want %v", l, got, want)
		}
	}
	alphabet := []string{"a", "Z", "0", "9", "-", "_", ".", " ", "é", "\x00"}
	var all func(prefix string, n int)
	all = func(prefix string, n int) {
		check(prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			all(prefix+c, n-1)
		}
	}
	all("", 4)
	for _, n := range []int{62, 63, 64} {
		check(strings.Repeat("a", n))
		check("a" + strings.Repeat("-", n-2) + "a")
		check(strings.Repeat("a", n-1) + "-")
	}
}
