package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
)

// loadInputs loads the inventory and, when statePath is set, the snapshot,
// and tells stderr where the two disagree. A nil snapshot means nothing is
// verified.
func loadInputs(config, statePath string, stderr io.Writer) (*inventory.Inventory, *state.Snapshot, error) {
	inv, err := inventory.Load(config)
	if err != nil {
		return nil, nil, err
	}
	if statePath == "" {
		return inv, nil, nil
	}
	snap, err := state.Load(statePath)
	if err != nil {
		return nil, nil, err
	}
	var missing, unknown []string
	for _, m := range inv.Mirrors {
		if snap.Mirrors[m.Name] == nil {
			missing = append(missing, m.Name)
		}
	}
	for name := range snap.Mirrors {
		if inv.Mirror(name) == nil {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "%s: %d mirror(s) of %s are not in the snapshot and are not offered until probe has checked them: %s\n",
			statePath, len(missing), config, short(missing))
	}
	if len(unknown) > 0 {
		fmt.Fprintf(stderr, "%s: %d mirror(s) are not in %s and are ignored: %s\n", statePath, len(unknown), config, short(unknown))
	}
	return inv, snap, nil
}

func short(names []string) string {
	if len(names) > 5 {
		return fmt.Sprintf("%v and %d more", names[:5], len(names)-5)
	}
	return fmt.Sprint(names)
}
