package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/country"
	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/importer"
)

// importHeader starts every file import writes; import replaces only
// files that start with it, so a hand-written mirrors.toml is never lost.
const importHeader = "# mirrors.toml written by `mirrorsteer import"

func runImport(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	from := fs.String("from", "", "the source `format`: almalinux (a mirrors.d directory of YAML files) or mirrorz (mirrorz.d.json site files)")
	out := fs.String("o", "mirrors.toml", "the `file` to write (\"-\": standard output); an existing file is replaced only if import wrote it")
	headFile := fs.String("head", "", "`file` with everything but the mirrors ([network], [[repo]], [policy], [dns], ...); default for almalinux: AlmaLinux's origin, BaseOS and AppStream")
	cname := fs.String("cname", "", "mirrorz: the repository to import, by its `name` in the sites' mirrors lists (e.g. almalinux)")
	cc := fs.String("country", "", "mirrorz: the `code` of the country of every site (the format has none; MirrorZ's sites are in CN)")
	paths, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return usagef("name the source: a mirrors.d directory, or mirrorz.d.json files")
	}
	var head importer.Head
	if *headFile != "" {
		data, err := fileio.ReadFile(*headFile, fileio.MaxInventory)
		if err != nil {
			return fmt.Errorf("--head: %w", err)
		}
		head = importer.Head{Name: *headFile, Text: string(data)}
	}
	var r *importer.Result
	switch *from {
	case "almalinux":
		if *cname != "" || *cc != "" {
			return usagef("--cname and --country are for --from mirrorz; AlmaLinux's files name their country")
		}
		if head.Text == "" {
			head = importer.AlmaLinuxHead
		}
		r, err = importer.ReadAlmaLinux(paths)
	case "mirrorz":
		if *cname == "" {
			return usagef("--from mirrorz needs --cname: the repository to import (a site file lists all it carries)")
		}
		if head.Text == "" {
			return usagef("--from mirrorz needs --head: a file with the [network] (the origin of %q) and its [[repo]]s", *cname)
		}
		z := importer.MirrorZ{Cname: *cname}
		if *cc != "" {
			c, err := country.Parse(*cc)
			if err != nil {
				return usagef("--country: %v", err)
			}
			z.Country = c
		}
		r, err = importer.ReadMirrorZ(paths, z)
	case "":
		return usagef("say what the source is: --from almalinux or --from mirrorz")
	default:
		return usagef("--from %q: want almalinux or mirrorz", *from)
	}
	if err != nil {
		return err
	}

	name, dir := *out, filepath.Dir(*out)
	if *out == "-" {
		name, dir = "mirrors.toml", "."
	} else if err := replaceable(*out); err != nil {
		return err
	}
	data, err := r.TOML(head, name, dir, fileChecks...)
	notes := slices.Clone(r.Notes)
	slices.SortStableFunc(notes, func(a, b importer.Note) int { return strings.Compare(a.Source, b.Source) })
	for _, n := range notes {
		fmt.Fprintln(stderr, n)
	}
	if err != nil {
		return err
	}
	left, repairs := 0, 0
	for _, n := range notes {
		if n.LeftOut {
			left++
		} else {
			repairs++
		}
	}
	if len(r.Mirrors) == 0 {
		return fmt.Errorf("mirrorsteer import: no mirror could be imported from %d files (see above); nothing written", r.Files)
	}
	if *out == "-" {
		_, err = stdout.Write(data)
	} else {
		err = fileio.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "mirrorsteer import: wrote %s: %d mirrors from %d files; %d left out, %d repairs (listed above). Check it with: mirrorsteer check -c %s\n",
		name, len(r.Mirrors), r.Files, left, repairs, name)
	return nil
}

// replaceable refuses to overwrite a file that import did not write.
func replaceable(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	start := make([]byte, len(importHeader))
	n, _ := io.ReadFull(f, start)
	if !bytes.Equal(start[:n], []byte(importHeader)) {
		return fmt.Errorf("%s exists and was not written by mirrorsteer import; move it away or write elsewhere with -o", path)
	}
	return nil
}

// parseInterleaved parses flags that may stand before, between or after
// the arguments ("import mirrors.d --from almalinux"), and returns the
// arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError{err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}
