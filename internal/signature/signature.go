// Package signature makes and checks detached Ed25519 signatures of the
// files mirrorsteer publishes (gen's api/state.json, an operator's
// mirrors.toml), and reads and writes their key files.
//
// The formats are OpenSSL's, so that either side can be done without
// mirrorsteer:
//
//   - a private key file is PEM "PRIVATE KEY" (PKCS #8), as written by
//     openssl genpkey -algorithm ed25519;
//   - a public key file is PEM "PUBLIC KEY" (SubjectPublicKeyInfo), as
//     written by openssl pkey -pubout;
//   - a signature is the 64 raw bytes of Ed25519 over the file's exact
//     bytes, in a file named after it with ".sig" added, as written by
//     openssl pkeyutl -sign -rawin.
//
// A key's ID is the first 16 hex digits of the SHA-256 of its public key
// in DER: openssl pkey -pubin -in KEY.pub -outform DER | sha256sum.
package signature

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
)

// Suffix names a file's detached signature: api/state.json.sig.
const Suffix = ".sig"

// Size is the size of a signature file: a raw Ed25519 signature.
const Size = ed25519.SignatureSize

// ErrMismatch is the error of a signature that none of the keys made over
// these bytes: the file was changed, cut short, or signed by another key.
var ErrMismatch = errors.New("the signature does not match the file under any of the keys")

// Sign returns the detached signature of data.
func Sign(key ed25519.PrivateKey, data []byte) []byte {
	return ed25519.Sign(key, data)
}

// Verify checks that sig is a signature of data by one of keys and
// returns that key.
func Verify(keys []ed25519.PublicKey, data, sig []byte) (ed25519.PublicKey, error) {
	if len(sig) != Size {
		return nil, fmt.Errorf("the signature is %d bytes, not the %d of a raw Ed25519 signature (base64 or PEM? write the raw bytes, as openssl pkeyutl -sign -rawin does)", len(sig), Size)
	}
	for _, k := range keys {
		if ed25519.Verify(k, data, sig) {
			return k, nil
		}
	}
	return nil, ErrMismatch
}

// ID returns the key's ID: the first 16 hex digits of the SHA-256 of the
// public key in DER (SubjectPublicKeyInfo), for logs.
func ID(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "invalid"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// Generate returns a new key pair as the PEM of the private key file and
// of the public key file.
func Generate() (private, public []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// WriteKeys writes a new key pair: the private key to privatePath, which
// only its owner may read (0600), and the public key to publicPath
// (0644). It refuses to replace either file, so that a key in use is
// never lost to a second run.
func WriteKeys(privatePath, publicPath string) (id string, err error) {
	private, public, err := Generate()
	if err != nil {
		return "", err
	}
	for _, p := range []string{privatePath, publicPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", fmt.Errorf("%s already exists; a new key would replace the one in use: remove it first, or give other names", p)
		}
	}
	if err := writeNew(privatePath, private, 0o600); err != nil {
		return "", err
	}
	if err := writeNew(publicPath, public, 0o644); err != nil {
		os.Remove(privatePath)
		return "", err
	}
	pub, err := ParsePublicKey(publicPath, public)
	if err != nil {
		return "", err
	}
	return ID(pub), nil
}

// writeNew creates path with data, durably, failing if it exists.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return f.Close()
}

// LoadPrivateKey reads a private key file (PEM PKCS #8 Ed25519).
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := fileio.ReadFile(path, fileio.MaxSmall)
	if err != nil {
		return nil, err
	}
	return ParsePrivateKey(path, data)
}

// ParsePrivateKey reads the PEM of a private key file; name is used in
// errors.
func ParsePrivateKey(name string, data []byte) (ed25519.PrivateKey, error) {
	block, err := onePEM(name, data, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS #8 private key (%v); make one with mirrorsteer keygen or openssl genpkey -algorithm ed25519", name, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key; make one with mirrorsteer keygen or openssl genpkey -algorithm ed25519", name, k)
	}
	return priv, nil
}

// LoadPublicKey reads a public key file (PEM SubjectPublicKeyInfo
// Ed25519).
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := fileio.ReadFile(path, fileio.MaxSmall)
	if err != nil {
		return nil, err
	}
	return ParsePublicKey(path, data)
}

// ParsePublicKey reads the PEM of a public key file; name is used in
// errors.
func ParsePublicKey(name string, data []byte) (ed25519.PublicKey, error) {
	block, err := onePEM(name, data, "PUBLIC KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: not a public key (%v); write it with mirrorsteer keygen or openssl pkey -pubout", name, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key; signatures are Ed25519 (mirrorsteer keygen)", name, k)
	}
	return pub, nil
}

// onePEM returns the single PEM block of type want in data.
func onePEM(name string, data []byte, want string) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("%s: no PEM block in it; want a %q file as mirrorsteer keygen writes", name, want)
	case block.Type == "PRIVATE KEY" && want == "PUBLIC KEY":
		return nil, fmt.Errorf("%s: is a private key; give the public key file (KEY.pub) here, and keep the private key on the machine that signs", name)
	case block.Type == "PUBLIC KEY" && want == "PRIVATE KEY":
		return nil, fmt.Errorf("%s: is a public key; signing needs the private key file (KEY.key)", name)
	case block.Type != want:
		return nil, fmt.Errorf("%s: PEM block %q, want %q (an Ed25519 key from mirrorsteer keygen or openssl genpkey -algorithm ed25519)", name, block.Type, want)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("%s: more than one PEM block; keep one key a file", name)
	}
	return block, nil
}
