package dnsd

import (
	"strings"
	"testing"
)

func TestCheckLocalFiles(t *testing.T) {
	tests := []struct {
		name string
		toml string
		want string // "" for accepted
	}{
		{"absolute file names are read on this machine", "[dns]\nzone_file = \"/etc/mirrorsteer/example.org.zone\"\n[[mirror]]\nname = \"a\"\nsubnet_files = [\"/etc/mirrorsteer/a.txt\"]\n", ""},
		{"no files at all", "[dns]\nzone = \"example.org.\"\n", ""},
		{"a relative zone file is refused", "[dns]\nzone_file = \"example.org.zone\"\n", `[dns] zone_file "example.org.zone" is relative`},
		{"a relative subnet file is refused, naming the mirror", "[[mirror]]\nname = \"a\"\nsubnet_files = [\"ranges/a.json\"]\n", `[[mirror]] "a": subnet_files "ranges/a.json" is relative`},
		{"a file that is not TOML is left to the inventory loader", "[dns\n", ""},
	}
	for _, tc := range tests {
		err := checkLocalFiles("https://example.org/mirrors.toml", []byte(tc.toml))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "https://example.org/mirrors.toml: ")):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestIsURL(t *testing.T) {
	for name, want := range map[string]bool{
		"https://example.org/api/state.json": true,
		"http://example.org/api/state.json":  true, // a URL, which remote.New refuses with the reason
		"/var/lib/mirrorsteer/state.json":    false,
		"state.json":                         false,
		"":                                   false,
	} {
		if IsURL(name) != want {
			t.Errorf("IsURL(%q) = %v", name, !want)
		}
	}
}
