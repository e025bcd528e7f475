//go:build windows

package localtls

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
)

// WindowsStore is the Windows Root store of the machine, or with User set
// the current user's, changed through certutil.exe.
//
// Untested: no Windows machine runs the tests.
type WindowsStore struct {
	User bool
}

// Location names of the Windows stores in StoreRef.
const (
	windowsMachineRoot = "Root"
	windowsUserRoot    = "user Root"
)

func (s *WindowsStore) Ref() StoreRef {
	if s.User {
		return StoreRef{Kind: KindWindows, Location: windowsUserRoot}
	}
	return StoreRef{Kind: KindWindows, Location: windowsMachineRoot}
}

func (s *WindowsStore) run(ctx context.Context, args ...string) ([]byte, error) {
	if s.User {
		args = append([]string{"-user"}, args...)
	}
	return runCommand(ctx, "certutil.exe", args...)
}

func (s *WindowsStore) Install(ctx context.Context, _ *x509.Certificate, caFile string) error {
	_, err := s.run(ctx, "-addstore", "-f", "Root", caFile)
	return err
}

func (s *WindowsStore) Remove(ctx context.Context, ca *x509.Certificate) error {
	ok, err := s.Contains(ctx, ca)
	if err != nil || !ok {
		return err
	}
	_, err = s.run(ctx, "-delstore", "Root", ca.SerialNumber.Text(16))
	return err
}

func (s *WindowsStore) Contains(ctx context.Context, ca *x509.Certificate) (bool, error) {
	out, err := s.run(ctx, "-store", "Root", ca.SerialNumber.Text(16))
	if err != nil {
		return false, nil // certutil fails when the store has no such certificate
	}
	return strings.Contains(strings.ToLower(strings.ReplaceAll(string(out), " ", "")), shortFingerprintSHA1(ca)), nil
}

func openOSStore(ref StoreRef) (Store, error) {
	if ref.Kind == KindWindows {
		switch ref.Location {
		case windowsMachineRoot:
			return &WindowsStore{}, nil
		case windowsUserRoot:
			return &WindowsStore{User: true}, nil
		}
	}
	return nil, fmt.Errorf("trust store %s is not available on Windows", ref)
}

// SystemStores returns the stores setup installs into by default: the
// machine's Root store, or with user set the current user's.
func SystemStores(user bool, home string, o Options) []Store {
	return []Store{&WindowsStore{User: user}}
}
