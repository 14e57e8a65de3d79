package main

import (
	"fmt"
	"path/filepath"
)

func init() { addStep(60, "site", showSite) }

// showSite says where the status site gen wrote is. The demo stops what
// it started, so it does not keep a server running: the pages work from
// disk, and site/tools/serve serves them over http when wanted.
func showSite(d *demo) error {
	abs, err := filepath.Abs(filepath.Join(d.Out, "index.html"))
	if err != nil {
		return err
	}
	d.header("site: the status pages gen wrote")
	fmt.Fprintf(d.Stdout, "status site: file://%s\n", abs)
	fmt.Fprintf(d.Stdout, "or serve it: go run ./site/tools/serve %s   (then http://127.0.0.1:8080/)\n", d.Out)
	return nil
}
