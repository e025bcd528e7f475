package localtls

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tokenagent/tokenagent/internal/atomicfile"
)

// Store is one trust store the authority can be installed into.
type Store interface {
	// Ref names the store in the state file and in messages.
	Ref() StoreRef
	// Install adds ca, whose PEM file is caFile, to the store.
	Install(ctx context.Context, ca *x509.Certificate, caFile string) error
	// Remove takes ca out of the store; a store without it is not an error.
	Remove(ctx context.Context, ca *x509.Certificate) error
	// Contains tells whether the store holds ca.
	Contains(ctx context.Context, ca *x509.Certificate) (bool, error)
}

// StoreRef identifies a store: its kind and where it is.
type StoreRef struct {
	Kind     string `json:"kind"`     // KindDebian, KindNSS, KindWindows or KindMacOS
	Location string `json:"location"` // a directory, an NSS database, a store or keychain name
}

func (r StoreRef) String() string { return r.Kind + " " + r.Location }

// The kinds of store.
const (
	KindDebian  = "debian"
	KindNSS     = "nss"
	KindWindows = "windows"
	KindMacOS   = "macos"
)

// Names under which the authority is installed.
const (
	// Nickname is the authority's nickname in NSS databases.
	Nickname = "tokenagent local CA"
	// DebianFile is the authority's file name in a Debian-style directory.
	DebianFile = "tokenagent-local-ca.crt"
	// DebianDir is where Debian-family systems take local authorities from.
	DebianDir = "/usr/local/share/ca-certificates"
)

// ErrNoCertutil is returned for NSS databases when NSS's certutil is not
// installed (Debian package libnss3-tools).
var ErrNoCertutil = errors.New("certutil not found: install libnss3-tools (Debian, Ubuntu) or nss-tools (Fedora)")

// Options are the commands the stores run, for systems and tests that need
// others than the defaults.
type Options struct {
	// UpdateCmd refreshes a Debian-style store after its directory changed;
	// nil means update-ca-certificates.
	UpdateCmd []string
	// Certutil is NSS's certutil; empty means the one on $PATH.
	Certutil string
}

// FindCertutil returns the certutil the NSS stores run, or ErrNoCertutil.
func (o Options) FindCertutil() (string, error) {
	if o.Certutil != "" {
		return o.Certutil, nil
	}
	p, err := exec.LookPath("certutil")
	if err != nil {
		return "", ErrNoCertutil
	}
	return p, nil
}

// Open returns the store ref names, with the commands of o.
func Open(ref StoreRef, o Options) (Store, error) {
	switch ref.Kind {
	case KindDebian:
		return &DebianStore{Dir: ref.Location, UpdateCmd: o.UpdateCmd}, nil
	case KindNSS:
		return &NSSStore{DB: ref.Location, Certutil: o.Certutil}, nil
	}
	return openOSStore(ref)
}

// runCommand runs name with args and returns an error that carries its
// output when it fails.
func runCommand(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg != "" {
			return out, fmt.Errorf("running %s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return out, fmt.Errorf("running %s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// DebianStore is a Debian-style system store: a directory of PEM files
// (/usr/local/share/ca-certificates) and a command that rebuilds the
// system bundle from it (update-ca-certificates).
type DebianStore struct {
	Dir       string
	UpdateCmd []string // nil: update-ca-certificates
}

func (s *DebianStore) Ref() StoreRef { return StoreRef{Kind: KindDebian, Location: s.Dir} }

func (s *DebianStore) file() string { return filepath.Join(s.Dir, DebianFile) }

// update rebuilds the bundle. After a removal the default command runs with
// --fresh: without it, update-ca-certificates leaves the removed CA's links
// in /etc/ssl/certs behind.
func (s *DebianStore) update(ctx context.Context, removed bool) error {
	cmd := s.UpdateCmd
	if len(cmd) == 0 {
		cmd = []string{"update-ca-certificates"}
		if removed {
			cmd = append(cmd, "--fresh")
		}
	}
	_, err := runCommand(ctx, cmd[0], cmd[1:]...)
	return err
}

func (s *DebianStore) Install(ctx context.Context, ca *x509.Certificate, _ string) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", s.Dir, err)
	}
	if err := atomicfile.Write(s.file(), pemCert(ca), 0o644); err != nil {
		return err
	}
	return s.update(ctx, false)
}

func (s *DebianStore) Remove(ctx context.Context, ca *x509.Certificate) error {
	ok, err := s.Contains(ctx, ca)
	if err != nil || !ok {
		return err // a file that is another authority's is not ours to delete
	}
	if err := os.Remove(s.file()); err != nil {
		return fmt.Errorf("removing the CA from %s: %w", s.Dir, err)
	}
	return s.update(ctx, true)
}

func (s *DebianStore) Contains(_ context.Context, ca *x509.Certificate) (bool, error) {
	data, err := os.ReadFile(s.file())
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", s.file(), err)
	}
	block, _ := pem.Decode(data)
	return block != nil && bytes.Equal(block.Bytes, ca.Raw), nil
}

// NSSStore is an NSS database (cert9.db, the "sql:" format) as Chrome,
// Chromium and Firefox keep them, changed through NSS's certutil.
type NSSStore struct {
	DB       string
	Certutil string // empty: certutil on $PATH
}

func (s *NSSStore) Ref() StoreRef { return StoreRef{Kind: KindNSS, Location: s.DB} }

func (s *NSSStore) run(ctx context.Context, args ...string) ([]byte, error) {
	certutil, err := Options{Certutil: s.Certutil}.FindCertutil()
	if err != nil {
		return nil, err
	}
	return runCommand(ctx, certutil, append(args, "-d", "sql:"+s.DB)...)
}

func (s *NSSStore) Install(ctx context.Context, ca *x509.Certificate, caFile string) error {
	if _, err := os.Stat(filepath.Join(s.DB, "cert9.db")); err != nil {
		return fmt.Errorf("NSS database %s: %w", s.DB, err)
	}
	// A stale authority under our nickname (an earlier setup's) goes first,
	// so that the nickname names exactly one certificate.
	if err := s.removeNickname(ctx, nil); err != nil {
		return err
	}
	_, err := s.run(ctx, "-A", "-n", Nickname, "-t", "C,,", "-i", caFile)
	return err
}

func (s *NSSStore) Remove(ctx context.Context, ca *x509.Certificate) error {
	return s.removeNickname(ctx, ca)
}

// removeNickname deletes the certificates under our nickname: all of them,
// or with only set just the ones equal to only.
func (s *NSSStore) removeNickname(ctx context.Context, only *x509.Certificate) error {
	for range 16 { // certutil -D deletes one certificate a call
		certs, err := s.list(ctx)
		if err != nil {
			return err
		}
		found := false
		for _, c := range certs {
			if only == nil || bytes.Equal(c, only.Raw) {
				found = true
			}
		}
		if !found {
			return nil
		}
		if only != nil && len(certs) > 1 {
			return fmt.Errorf("NSS database %s holds %d certificates named %q; remove them with certutil -D", s.DB, len(certs), Nickname)
		}
		if _, err := s.run(ctx, "-D", "-n", Nickname); err != nil {
			return err
		}
	}
	return fmt.Errorf("NSS database %s: could not delete the certificates named %q", s.DB, Nickname)
}

// list returns the DER of the certificates under our nickname.
func (s *NSSStore) list(ctx context.Context) ([][]byte, error) {
	if _, err := os.Stat(filepath.Join(s.DB, "cert9.db")); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // a deleted profile holds nothing
	}
	out, err := s.run(ctx, "-L", "-n", Nickname, "-a")
	if err != nil {
		// certutil says so in words when the nickname is unknown; any other
		// failure shows up again on -A or -D with its message.
		low := bytes.ToLower(out)
		if bytes.Contains(low, []byte("could not find")) || bytes.Contains(low, []byte("not found")) {
			return nil, nil
		}
		return nil, err
	}
	var certs [][]byte
	for rest := out; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return certs, nil
		}
		certs = append(certs, block.Bytes)
	}
}

func (s *NSSStore) Contains(ctx context.Context, ca *x509.Certificate) (bool, error) {
	certs, err := s.list(ctx)
	if err != nil {
		return false, err
	}
	for _, c := range certs {
		if bytes.Equal(c, ca.Raw) {
			return true, nil
		}
	}
	return false, nil
}

// NSSDatabases returns the NSS databases of the browsers of the user whose
// home is home: Chrome's and Chromium's shared ~/.pki/nssdb and every
// Firefox profile, the snap packages' included. Only databases that exist
// (have a cert9.db) are returned.
func NSSDatabases(home string) []string {
	var dbs []string
	candidates := []string{
		filepath.Join(home, ".pki", "nssdb"),
		filepath.Join(home, "snap", "chromium", "current", ".pki", "nssdb"),
	}
	for _, pattern := range []string{
		filepath.Join(home, ".mozilla", "firefox", "*"),
		filepath.Join(home, "snap", "firefox", "common", ".mozilla", "firefox", "*"),
		filepath.Join(home, "Library", "Application Support", "Firefox", "Profiles", "*"),
		filepath.Join(home, "AppData", "Roaming", "Mozilla", "Firefox", "Profiles", "*"),
	} {
		m, _ := filepath.Glob(pattern) // the patterns are well-formed
		candidates = append(candidates, m...)
	}
	for _, dir := range candidates {
		if fi, err := os.Stat(filepath.Join(dir, "cert9.db")); err == nil && fi.Mode().IsRegular() {
			dbs = append(dbs, dir)
		}
	}
	return dbs
}
