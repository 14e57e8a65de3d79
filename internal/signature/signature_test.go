package signature

import (
	"crypto/ed25519"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed: apt-get install openssl (.ci/run installs it)")
	}
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The key files keygen writes are OpenSSL's: openssl verifies what
// mirrorsteer signs, and mirrorsteer verifies what openssl signs with a
// key openssl made.
func TestOpenSSLInterop(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	data := []byte("{\"schema\": 2, \"taken\": \"2026-11-23T08:00:00Z\"}\n")
	file := filepath.Join(dir, "state.json")
	os.WriteFile(file, data, 0o644)

	t.Run("openssl verifies a signature by a key from WriteKeys", func(t *testing.T) {
		priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
		id, err := WriteKeys(priv, pub)
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(priv); fi.Mode().Perm() != 0o600 {
			t.Errorf("private key mode %v, want 0600", fi.Mode().Perm())
		}
		key, err := LoadPrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(file+Suffix, Sign(key, data), 0o644)
		if out := openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", file, "-sigfile", file+Suffix); !strings.Contains(out, "Signature Verified Successfully") {
			t.Errorf("openssl: %s", out)
		}
		// The documented way to compute the ID.
		der, _ := exec.Command("sh", "-c", "openssl pkey -pubin -in '"+pub+"' -outform DER | sha256sum").Output()
		if !strings.HasPrefix(string(der), id) {
			t.Errorf("ID %s, openssl | sha256sum says %s", id, der)
		}
	})
	t.Run("a key and signature from openssl verify", func(t *testing.T) {
		priv, pub := filepath.Join(dir, "o.key"), filepath.Join(dir, "o.pub")
		openssl(t, "genpkey", "-algorithm", "ed25519", "-out", priv)
		openssl(t, "pkey", "-in", priv, "-pubout", "-out", pub)
		openssl(t, "pkeyutl", "-sign", "-inkey", priv, "-rawin", "-in", file, "-out", file+".o"+Suffix)
		k, err := LoadPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := os.ReadFile(file + ".o" + Suffix)
		if _, err := Verify([]ed25519.PublicKey{k}, data, sig); err != nil {
			t.Error(err)
		}
		if _, err := LoadPrivateKey(priv); err != nil {
			t.Errorf("openssl's private key: %v", err)
		}
	})
}

func TestVerify(t *testing.T) {
	pubA, privA, _ := ed25519.GenerateKey(nil)
	pubB, privB, _ := ed25519.GenerateKey(nil)
	data := []byte("the exact bytes")
	sig := Sign(privA, data)
	tampered := append([]byte(nil), data...)
	tampered[4] ^= 1
	tests := []struct {
		name string
		keys []ed25519.PublicKey
		data []byte
		sig  []byte
		want ed25519.PublicKey // nil: refused
	}{
		{"the right key verifies", []ed25519.PublicKey{pubA}, data, sig, pubA},
		{"any of several keys verifies (rotation)", []ed25519.PublicKey{pubB, pubA}, data, sig, pubA},
		{"another key's signature is refused", []ed25519.PublicKey{pubB}, data, sig, nil},
		{"a changed byte is refused", []ed25519.PublicKey{pubA}, tampered, sig, nil},
		{"a truncated file is refused", []ed25519.PublicKey{pubA}, data[:len(data)-1], sig, nil},
		{"a truncated signature is refused", []ed25519.PublicKey{pubA}, data, sig[:63], nil},
		{"no key verifies nothing", nil, data, sig, nil},
		{"a signature of other bytes is refused", []ed25519.PublicKey{pubB}, data, Sign(privB, []byte("other")), nil},
	}
	for _, tc := range tests {
		got, err := Verify(tc.keys, tc.data, tc.sig)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: verified", tc.name)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := Verify([]ed25519.PublicKey{pubA}, tampered, sig); !errors.Is(err, ErrMismatch) {
		t.Errorf("a tampered file: %v, want ErrMismatch", err)
	}
}

func TestKeyFileErrors(t *testing.T) {
	needOpenSSL(t)
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if _, err := WriteKeys(priv, pub); err != nil {
		t.Fatal(err)
	}
	rsa := filepath.Join(dir, "rsa.key")
	openssl(t, "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:1024", "-out", rsa)
	rsaPub := filepath.Join(dir, "rsa.pub")
	openssl(t, "pkey", "-in", rsa, "-pubout", "-out", rsaPub)
	two := filepath.Join(dir, "two.pub")
	b, _ := os.ReadFile(pub)
	os.WriteFile(two, append(b, b...), 0o644)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("MCowBQYDK2VwAyEAPT5q/A3OqPUSriqJ5xFPYAk+UpQ1pM4w87J8lYQc5p8=\n"), 0o644)
	tests := []struct {
		name   string
		public bool
		path   string
		want   string
	}{
		{"a private key where the public one belongs", true, priv, "is a private key; give the public key file"},
		{"a public key where the private one belongs", false, pub, "is a public key; signing needs the private key"},
		{"an RSA private key", false, rsa, "not an Ed25519 key"},
		{"an RSA public key", true, rsaPub, "not an Ed25519 key"},
		{"two keys in one file", true, two, "more than one PEM block"},
		{"base64 without PEM armour", true, garbage, "no PEM block"},
		{"an endless device", true, "/dev/zero", "larger than"},
	}
	for _, tc := range tests {
		var err error
		if tc.public {
			_, err = LoadPublicKey(tc.path)
		} else {
			_, err = LoadPrivateKey(tc.path)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: %v, want %q naming %s", tc.name, err, tc.want, tc.path)
		}
	}
	if _, err := WriteKeys(priv, filepath.Join(dir, "new.pub")); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("WriteKeys over an existing key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.pub")); err == nil {
		t.Error("a refused WriteKeys left a public key behind")
	}
}

// BenchmarkVerify checks a signature over 10 MiB, about an api/state.json
// of 10,000 endpoints: what each changed snapshot costs dnsd beyond the
// download.
func BenchmarkVerify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	data := make([]byte, 10<<20)
	sig := Sign(priv, data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Verify([]ed25519.PublicKey{pub}, data, sig); err != nil {
			b.Fatal(err)
		}
	}
}
