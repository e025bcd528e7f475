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
	Kind     string `json:"kind"`     // a Linux family's (KindDebian, …), KindNSS, KindWindows or KindMacOS
	Location string `json:"location"` // a directory, an NSS database, a store or keychain name
}

func (r StoreRef) String() string { return r.Kind + " " + r.Location }

// The kinds of store.
const (
	KindDebian   = "debian"   // Debian, Ubuntu: update-ca-certificates
	KindFedora   = "fedora"   // Fedora, RHEL, CentOS: update-ca-trust
	KindOpenSUSE = "opensuse" // openSUSE, SLES: their update-ca-certificates
	KindArch     = "arch"     // Arch: p11-kit's trust
	KindNSS      = "nss"
	KindWindows  = "windows"
	KindMacOS    = "macos"
)

// Names under which the authority is installed.
const (
	// Nickname is the authority's nickname in NSS databases.
	Nickname = "tokenagent local CA"
	// DebianFile is the authority's file name in a Debian-style directory.
	DebianFile = "tokenagent-local-ca.crt"
)

// systemTrust is how one family of Linux distributions keeps its system
// trust: a directory it takes local authorities from, the file name the
// authority gets there, the command that rebuilds the system bundle from
// the directory (and the one after a removal, when it differs) and where
// that command writes. One row per family, as mkcert's truststore_linux.go
// lists them.
type systemTrust struct {
	kind    string
	dir     string
	file    string
	update  []string
	removed []string // nil: update
	output  string   // what update writes, which renewing must be allowed to change
}

var systemTrusts = []systemTrust{
	// Without --fresh, update-ca-certificates leaves a removed
	// authority's links in /etc/ssl/certs behind.
	{KindDebian, "/usr/local/share/ca-certificates", DebianFile,
		[]string{"update-ca-certificates"}, []string{"update-ca-certificates", "--fresh"}, "/etc/ssl/certs"},
	{KindFedora, "/etc/pki/ca-trust/source/anchors", "tokenagent-local-ca.pem",
		[]string{"update-ca-trust", "extract"}, nil, "/etc/pki/ca-trust/extracted"},
	{KindOpenSUSE, "/etc/pki/trust/anchors", "tokenagent-local-ca.pem",
		[]string{"update-ca-certificates"}, nil, "/var/lib/ca-certificates"},
	{KindArch, "/etc/ca-certificates/trust-source/anchors", "tokenagent-local-ca.crt",
		[]string{"trust", "extract-compat"}, nil, "/etc/ca-certificates/extracted"},
}

// trustOf returns the row of a family's kind.
func trustOf(kind string) (systemTrust, bool) {
	for _, t := range systemTrusts {
		if t.kind == kind {
			return t, true
		}
	}
	return systemTrust{}, false
}

// ErrNoCertutil is returned for NSS databases when NSS's certutil is not
// installed (Debian package libnss3-tools).
var ErrNoCertutil = errors.New("certutil not found: install libnss3-tools (Debian, Ubuntu) or nss-tools (Fedora)")

// Options are the commands the stores run, for systems and tests that need
// others than the defaults.
type Options struct {
	// UpdateCmd refreshes a Linux system store after its directory
	// changed; nil means its family's command (update-ca-certificates on
	// Debian).
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
	if _, ok := trustOf(ref.Kind); ok {
		return &SystemStore{Kind: ref.Kind, Dir: ref.Location, UpdateCmd: o.UpdateCmd}, nil
	}
	switch ref.Kind {
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

// SystemStore is a Linux distribution's system store: a directory of CA
// files and the command that rebuilds the system bundle from it, as its
// family's row of systemTrusts says.
type SystemStore struct {
	Kind      string   // the family: KindDebian, KindFedora, KindOpenSUSE or KindArch
	Dir       string   // the directory; a test's own, or the family's
	UpdateCmd []string // nil: the family's command
}

func (s *SystemStore) Ref() StoreRef { return StoreRef{Kind: s.Kind, Location: s.Dir} }

func (s *SystemStore) trust() (systemTrust, error) {
	t, ok := trustOf(s.Kind)
	if !ok {
		return t, fmt.Errorf("unknown system store kind %q", s.Kind)
	}
	return t, nil
}

// update rebuilds the bundle, with the family's command for a removal
// after one.
func (s *SystemStore) update(ctx context.Context, t systemTrust, removed bool) error {
	cmd := s.UpdateCmd
	if len(cmd) == 0 {
		cmd = t.update
		if removed && t.removed != nil {
			cmd = t.removed
		}
	}
	_, err := runCommand(ctx, cmd[0], cmd[1:]...)
	return err
}

func (s *SystemStore) Install(ctx context.Context, ca *x509.Certificate, _ string) error {
	t, err := s.trust()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", s.Dir, err)
	}
	if err := atomicfile.Write(filepath.Join(s.Dir, t.file), pemCert(ca), 0o644); err != nil {
		return err
	}
	return s.update(ctx, t, false)
}

func (s *SystemStore) Remove(ctx context.Context, ca *x509.Certificate) error {
	ok, err := s.Contains(ctx, ca)
	if err != nil || !ok {
		return err // a file that is another authority's is not ours to delete
	}
	t, _ := s.trust() // Contains checked it
	if err := os.Remove(filepath.Join(s.Dir, t.file)); err != nil {
		return fmt.Errorf("removing the CA from %s: %w", s.Dir, err)
	}
	return s.update(ctx, t, true)
}

func (s *SystemStore) Contains(_ context.Context, ca *x509.Certificate) (bool, error) {
	t, err := s.trust()
	if err != nil {
		return false, err
	}
	file := filepath.Join(s.Dir, t.file)
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", file, err)
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
