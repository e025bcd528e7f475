package localtls

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenagent/tokenagent/internal/atomicfile"
)

// The files in an installation's directory. The key file is readable by
// its owner only; the others are public.
const (
	CAFile    = "ca.pem"
	CertFile  = "cert.pem"
	KeyFile   = "key.pem"
	StateFile = "state.json"
)

// ErrNotInstalled is returned by Load and Uninstall for a directory that
// holds no installation.
var ErrNotInstalled = errors.New("no local CA is installed")

// State is the state file: which authority was installed into which
// stores.
type State struct {
	CASHA256 string     `json:"caSha256"`
	Stores   []StoreRef `json:"stores"`
}

// Installation is what Setup left in a directory.
type Installation struct {
	Dir   string
	CA    *x509.Certificate
	Cert  *x509.Certificate
	State State
}

// CertPath and KeyPath are the server certificate's and key's files, as
// the [tls] config names them.
func (in *Installation) CertPath() string { return filepath.Join(in.Dir, CertFile) }
func (in *Installation) KeyPath() string  { return filepath.Join(in.Dir, KeyFile) }

// Setup creates a fresh authority and server certificate (see Issue),
// writes them to dir and installs the authority into stores. An earlier
// installation in dir is uninstalled first, with the commands of o; when
// that fails Setup changes nothing more. A store that fails to take the
// authority does not stop the others: the error returned then joins the
// failures, and the installation returned records the stores that took
// it, so that Uninstall can undo them.
func Setup(ctx context.Context, dir string, stores []Store, o Options, now time.Time) (*Installation, error) {
	if err := Uninstall(ctx, dir, o); err != nil && !errors.Is(err, ErrNotInstalled) {
		return nil, fmt.Errorf("removing the previous local CA: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	issued, err := Issue(now)
	if err != nil {
		return nil, err
	}
	in := &Installation{Dir: dir, CA: issued.CA, Cert: issued.Cert, State: State{CASHA256: Fingerprint(issued.CA), Stores: []StoreRef{}}}
	for _, f := range []struct {
		name string
		data []byte
		perm fs.FileMode
	}{
		{KeyFile, issued.KeyPEM, 0o600},
		{CertFile, issued.CertPEM, 0o644},
		{CAFile, issued.CAPEM, 0o644},
	} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return nil, err
		}
	}
	if err := in.saveState(); err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, CAFile)
	var errs []error
	for _, s := range stores {
		if err := s.Install(ctx, in.CA, caFile); err != nil {
			errs = append(errs, fmt.Errorf("installing the CA into %s: %w", s.Ref(), err))
			continue
		}
		in.State.Stores = append(in.State.Stores, s.Ref())
		if err := in.saveState(); err != nil {
			return in, errors.Join(append(errs, err)...)
		}
	}
	return in, errors.Join(errs...)
}

// Load reads the installation in dir.
func Load(dir string) (*Installation, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNotInstalled, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the TLS state: %w", err)
	}
	in := &Installation{Dir: dir}
	if err := json.Unmarshal(data, &in.State); err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, StateFile), err)
	}
	if in.CA, err = ReadCert(filepath.Join(dir, CAFile)); err != nil {
		return nil, err
	}
	if Fingerprint(in.CA) != in.State.CASHA256 {
		return nil, fmt.Errorf("%s is not the CA %s records", filepath.Join(dir, CAFile), StateFile)
	}
	if in.Cert, err = ReadCert(filepath.Join(dir, CertFile)); err != nil {
		return nil, err
	}
	return in, nil
}

// Uninstall removes the authority of the installation in dir from every
// store it was installed into, with the commands of o, then deletes the
// installation's files. When a store fails the files stay, and the state
// file keeps the stores still to do, so that Uninstall can be run again.
func Uninstall(ctx context.Context, dir string, o Options) error {
	in, err := Load(dir)
	if err != nil {
		return err
	}
	var errs []error
	var left []StoreRef
	for _, ref := range in.State.Stores {
		s, err := Open(ref, o)
		if err == nil {
			err = s.Remove(ctx, in.CA)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("removing the CA from %s: %w", ref, err))
			left = append(left, ref)
		}
	}
	if len(errs) > 0 {
		in.State.Stores = left
		if err := in.saveState(); err != nil {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	for _, name := range []string{KeyFile, CertFile, CAFile, StateFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", name, err))
		}
	}
	_ = os.Remove(dir) // only when empty: other files are not ours
	return errors.Join(errs...)
}

func (in *Installation) saveState() error {
	data, err := json.MarshalIndent(in.State, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the TLS state: %w", err)
	}
	return atomicfile.Write(filepath.Join(in.Dir, StateFile), append(data, '\n'), 0o644)
}

// ReadCert reads a PEM certificate file.
func ReadCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading a certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return c, nil
}
