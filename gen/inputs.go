package gen

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/tree"
)

// Inputs describes everything a run is made from, so that a rerun from the
// same inputs can leave the tree as it is (see Unchanged): the settings,
// the files read and what the command said about them. The program itself
// is added by Run. Anything the output depends on must be here: a setting
// or a file missing from it would let Unchanged keep a tree that a run
// would now write differently.
type Inputs struct {
	// Settings are the run's settings as text, compared as they are: the
	// command line's flags and the working directory their paths are
	// relative to, say.
	Settings []string
	// Reads are the files read whole, by the digest of the bytes read,
	// and those found missing (see fileio.Log): the inventory, the files
	// it names, the snapshot, the signing key, the answer statistics.
	Reads []fileio.Read
	// Opened are the files read in place (GeoIP databases) by path, each
	// with its fileio.ID taken before it was opened.
	Opened map[string]fileio.ID
	// Said is what the command wrote on stderr while loading them: the
	// same inputs say the same, and Unchanged says it again.
	Said []byte
}

// noteHeader starts the note Run records with a generation.
const noteHeader = "mirrorsteer gen inputs 1\n"

// note encodes in and what a run made of them for tree.Writer.SetNote:
// one line each, the values quoted.
func (in *Inputs) note(program string, st *Stats) []byte {
	var b bytes.Buffer
	b.WriteString(noteHeader)
	fmt.Fprintf(&b, "program %s\n", strconv.Quote(program))
	for _, s := range in.Settings {
		fmt.Fprintf(&b, "setting %s\n", strconv.Quote(s))
	}
	for _, r := range in.Reads {
		if r.Missing {
			fmt.Fprintf(&b, "missing %s\n", strconv.Quote(r.Path))
			continue
		}
		fmt.Fprintf(&b, "read %x %s\n", r.SHA256, strconv.Quote(r.Path))
	}
	for _, p := range slices.Sorted(maps.Keys(in.Opened)) {
		id := in.Opened[p]
		fmt.Fprintf(&b, "opened %d %d %d %d %d %s\n", id.Dev, id.Ino, id.Size, id.Mtime, id.Ctime, strconv.Quote(p))
	}
	fmt.Fprintf(&b, "said %s\n", strconv.Quote(string(in.Said)))
	for _, w := range st.Warnings {
		fmt.Fprintf(&b, "warning %s\n", strconv.Quote(w))
	}
	fmt.Fprintf(&b, "counts %d %d\n", st.Lists, st.Metalinks)
	return b.Bytes()
}

// Unchanged reports whether the tree at out was written by this very
// program from the inputs it still has, and is exactly as that run left
// it. Then a run would write the same bytes, and need not: Unchanged
// returns what that run reported and said (Stats with every file
// unchanged) without reading the inventory or the tree's files.
//
// The inputs are those of the Options.Inputs of the run that wrote the
// tree: its settings must equal settings, every file it read must still
// hold the same bytes, and every file it opened must have the same ID.
// The program is the same when its Go build ID is. The tree is checked
// with tree.Unchanged: every file and directory as the commit left it.
func Unchanged(out string, settings []string) (Stats, []byte, bool) {
	program := programID()
	if program == "" {
		return Stats{}, nil, false
	}
	var st Stats
	var said []byte
	ts, ok := tree.Unchanged(out, func(note []byte) bool {
		var ok bool
		st, said, ok = sameInputs(note, program, settings)
		return ok
	})
	if !ok {
		return Stats{}, nil, false
	}
	st.Stats = ts
	return st, said, true
}

// sameInputs reports whether note, as Inputs.note wrote it, describes
// program, settings and files that still hold the same, and returns the
// Stats and text it recorded.
func sameInputs(note []byte, program string, settings []string) (st Stats, said []byte, ok bool) {
	s, ok := strings.CutPrefix(string(note), noteHeader)
	if !ok {
		return Stats{}, nil, false
	}
	var gotSettings []string
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "program":
			if p, err := strconv.Unquote(rest); err != nil || p != program {
				return Stats{}, nil, false
			}
		case "setting":
			v, err := strconv.Unquote(rest)
			if err != nil {
				return Stats{}, nil, false
			}
			gotSettings = append(gotSettings, v)
		case "read":
			sum, q, _ := strings.Cut(rest, " ")
			p, err := strconv.Unquote(q)
			if err != nil || !sameRead(p, sum) {
				return Stats{}, nil, false
			}
		case "missing":
			p, err := strconv.Unquote(rest)
			if err != nil {
				return Stats{}, nil, false
			}
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				return Stats{}, nil, false
			}
		case "opened":
			f := strings.SplitN(rest, " ", 6)
			if len(f) != 6 {
				return Stats{}, nil, false
			}
			var id fileio.ID
			var errs [6]error
			id.Dev, errs[0] = strconv.ParseUint(f[0], 10, 64)
			id.Ino, errs[1] = strconv.ParseUint(f[1], 10, 64)
			id.Size, errs[2] = strconv.ParseInt(f[2], 10, 64)
			id.Mtime, errs[3] = strconv.ParseInt(f[3], 10, 64)
			id.Ctime, errs[4] = strconv.ParseInt(f[4], 10, 64)
			var p string
			p, errs[5] = strconv.Unquote(f[5])
			if errors.Join(errs[:]...) != nil {
				return Stats{}, nil, false
			}
			if now, err := fileio.Identify(p); err != nil || now != id {
				return Stats{}, nil, false
			}
		case "said":
			v, err := strconv.Unquote(rest)
			if err != nil {
				return Stats{}, nil, false
			}
			said = []byte(v)
		case "warning":
			v, err := strconv.Unquote(rest)
			if err != nil {
				return Stats{}, nil, false
			}
			st.Warnings = append(st.Warnings, v)
		case "counts":
			if _, err := fmt.Sscanf(rest, "%d %d", &st.Lists, &st.Metalinks); err != nil {
				return Stats{}, nil, false
			}
		default:
			return Stats{}, nil, false
		}
	}
	if !slices.Equal(gotSettings, settings) {
		return Stats{}, nil, false
	}
	return st, said, true
}

// sameRead reports whether the file at path holds bytes of the SHA-256
// sum, in hex.
func sameRead(path, sum string) bool {
	data, err := fileio.ReadFile(path, fileio.MaxState) // the largest input there is
	if err != nil {
		return false
	}
	got := sha256.Sum256(data)
	return hex.EncodeToString(got[:]) == sum
}

// programID is the Go build ID of the running executable: it changes
// whenever the program does. It is "" when it cannot be read, and then
// no run counts as unchanged.
var programID = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	f, err := elf.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		return ""
	}
	data, err := sec.Data()
	if err != nil {
		return ""
	}
	// An ELF note: name size, description size, type, "Go\0\0", the ID.
	if len(data) < 16 || !bytes.Equal(data[12:16], []byte("Go\x00\x00")) {
		return ""
	}
	id := string(data[16:])
	if i := strings.IndexByte(id, 0); i >= 0 {
		id = id[:i]
	}
	return id
})
