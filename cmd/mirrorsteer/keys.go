package main

import (
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/mirrorsteer/mirrorsteer/internal/fileio"
	"github.com/mirrorsteer/mirrorsteer/internal/signature"
)

// runKeygen writes a new signing key pair: NAME.key for gen --sign-key
// and mirrorsteer sign, NAME.pub for dnsd --verify-key.
func runKeygen(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	out := fs.String("o", "", "`name` of the key files: writes name.key (private, mode 0600) and name.pub (public)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("say where the keys go: -o /etc/mirrorsteer/snapshot writes snapshot.key and snapshot.pub")
	}
	name := strings.TrimSuffix(strings.TrimSuffix(*out, ".key"), ".pub")
	id, err := signature.WriteKeys(name+".key", name+".pub")
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "keygen: key %s: private %s (for gen --sign-key and mirrorsteer sign; keep it where they run), public %s (for dnsd --verify-key)\n", id, name+".key", name+".pub")
	return nil
}

// runSign writes FILE.sig beside each FILE: the detached signature dnsd
// checks when it fetches FILE by URL.
func runSign(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	keyFile := fs.String("key", "", "the private key `file` (from mirrorsteer keygen, or openssl genpkey -algorithm ed25519)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return flagError{err}
	}
	if *keyFile == "" {
		return usagef("give the private key: --key snapshot.key")
	}
	if fs.NArg() == 0 {
		return usagef("name the files to sign: mirrorsteer sign --key snapshot.key mirrors.toml")
	}
	key, err := signature.LoadPrivateKey(*keyFile)
	if err != nil {
		return err
	}
	for _, f := range fs.Args() {
		data, err := fileio.ReadFile(f, fileio.MaxState)
		if err != nil {
			return err
		}
		if err := fileio.WriteFile(f+signature.Suffix, signature.Sign(key, data), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sign: %s%s (key %s)\n", f, signature.Suffix, signature.ID(key.Public().(ed25519.PublicKey)))
	}
	return nil
}

// verifyKeys reads --verify-key files.
func verifyKeys(files []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, f := range files {
		k, err := signature.LoadPublicKey(f)
		if err != nil {
			return nil, fmt.Errorf("--verify-key: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// caPool is the system's CAs plus those in file, or nil (the system's)
// when file is "".
func caPool(flagName, file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := fileio.ReadFile(file, fileio.MaxSmall)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flagName, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s %s: no PEM certificate in it", flagName, file)
	}
	return pool, nil
}
