//go:build darwin

package localtls

import (
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
)

// SystemKeychain is macOS's System keychain.
const SystemKeychain = "/Library/Keychains/System.keychain"

// KeychainStore is a macOS keychain, changed through security(1): the
// System keychain, trusted for every user (admin rights needed), or a
// user's login keychain.
//
// Untested: no macOS machine runs the tests.
type KeychainStore struct {
	Keychain string
}

func (s *KeychainStore) Ref() StoreRef { return StoreRef{Kind: KindMacOS, Location: s.Keychain} }

func (s *KeychainStore) system() bool { return s.Keychain == SystemKeychain }

func (s *KeychainStore) Install(ctx context.Context, _ *x509.Certificate, caFile string) error {
	args := []string{"add-trusted-cert"}
	if s.system() {
		args = append(args, "-d") // admin trust settings, for every user
	}
	args = append(args, "-r", "trustRoot", "-k", s.Keychain, caFile)
	_, err := runCommand(ctx, "security", args...)
	return err
}

func (s *KeychainStore) Remove(ctx context.Context, ca *x509.Certificate) error {
	ok, err := s.Contains(ctx, ca)
	if err != nil || !ok {
		return err
	}
	// Deleting the certificate drops its trust settings with it.
	_, err = runCommand(ctx, "security", "delete-certificate", "-Z", shortFingerprintSHA1(ca), s.Keychain)
	return err
}

func (s *KeychainStore) Contains(ctx context.Context, ca *x509.Certificate) (bool, error) {
	out, err := runCommand(ctx, "security", "find-certificate", "-a", "-Z", s.Keychain)
	if err != nil {
		return false, err
	}
	return strings.Contains(strings.ToLower(string(out)), shortFingerprintSHA1(ca)), nil
}

func openOSStore(ref StoreRef) (Store, error) {
	if ref.Kind == KindMacOS {
		return &KeychainStore{Keychain: ref.Location}, nil
	}
	return nil, fmt.Errorf("trust store %s is not available on macOS", ref)
}

// SystemStores returns the stores setup installs into by default: the
// System keychain, or with user set the user's login keychain, and the
// Firefox profiles of the user whose home is home (Firefox on macOS keeps
// its own NSS databases) when certutil is installed.
func SystemStores(user bool, home string, o Options) []Store {
	kc := SystemKeychain
	if user {
		kc = filepath.Join(home, "Library", "Keychains", "login.keychain-db")
	}
	stores := []Store{&KeychainStore{Keychain: kc}}
	if _, err := o.FindCertutil(); err == nil {
		for _, db := range NSSDatabases(home) {
			stores = append(stores, &NSSStore{DB: db, Certutil: o.Certutil})
		}
	}
	return stores
}
