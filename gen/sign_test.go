package gen_test

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrorsteer/mirrorsteer/gen"
	"github.com/mirrorsteer/mirrorsteer/internal/signature"
	"github.com/mirrorsteer/mirrorsteer/internal/state"
	"github.com/mirrorsteer/mirrorsteer/internal/state/statetest"
)

// With a key, api/state.json.sig is the signature of api/state.json's
// exact bytes, and what it vouches for reads back as the snapshot's
// health, the private mirror's included; without a key there is none.
func TestSignsState(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	inv := load(t, header+mirrors+`
[[mirror]]
name = "corp"
country = "US"
http = "http://10.1.2.3/pub/"
subnets = ["10.0.0.0/8"]
public = false
`)
	snap := statetest.Healthy(inv, nil)
	out := filepath.Join(t.TempDir(), "out")
	run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: out, SignKey: priv})
	data := []byte(read(t, out, "api/state.json"))
	sig := []byte(read(t, out, "api/state.json.sig"))
	if _, err := signature.Verify([]ed25519.PublicKey{pub}, data, sig); err != nil {
		t.Fatalf("api/state.json.sig: %v", err)
	}
	got, err := state.ParsePublished("api/state.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if e := got.Endpoint("corp", state.HTTP, state.IPv4); e == nil || !e.Healthy {
		t.Errorf("the private mirror's health is not published: %+v", e)
	}
	if !got.Taken.Equal(snap.Taken) {
		t.Errorf("taken %v, want %v", got.Taken, snap.Taken)
	}

	unsigned := filepath.Join(t.TempDir(), "out")
	run(t, gen.Options{Inventory: inv, Snapshot: snap, Out: unsigned})
	if _, err := os.Stat(filepath.Join(unsigned, "api/state.json.sig")); !os.IsNotExist(err) {
		t.Errorf("gen without a key wrote a signature: %v", err)
	}
}
