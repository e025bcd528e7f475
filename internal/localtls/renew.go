package localtls

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrNoRights is returned by Renew when this process cannot write to every
// place a renewal changes.
var ErrNoRights = errors.New("no rights to renew the local CA")

// Renew renews the installation in dir when its server certificate is due
// (see RenewalDue): it runs Setup again, with a fresh authority, into the
// stores the installation records, the old authority removed. So that a
// renewal is never left half done, it first checks that this process can
// write the directory and every one of those stores; when it cannot it
// changes nothing and returns an error wrapping ErrNoRights. It reports
// whether it renewed.
func Renew(ctx context.Context, dir string, o Options, now time.Time) (*Installation, bool, error) {
	in, err := Load(dir)
	if err != nil {
		return nil, false, err
	}
	if !RenewalDue(in.Cert, now) {
		return in, false, nil
	}
	places := []string{dir}
	stores := make([]Store, 0, len(in.State.Stores))
	for _, ref := range in.State.Stores {
		s, err := Open(ref, o)
		if err != nil {
			return in, false, err
		}
		t, family := trustOf(ref.Kind)
		switch {
		case family:
			places = append(places, ref.Location)
			if len(o.UpdateCmd) == 0 {
				places = append(places, t.output) // where the family's command writes
			}
		case ref.Kind == KindNSS:
			places = append(places, ref.Location)
		default:
			return in, false, fmt.Errorf("%w: cannot tell whether %s is writable", ErrNoRights, ref)
		}
		stores = append(stores, s)
	}
	for _, p := range places {
		if err := writable(p); err != nil {
			return in, false, fmt.Errorf("%w: %w", ErrNoRights, err)
		}
	}
	renewed, err := Setup(ctx, dir, stores, o, now)
	if renewed == nil {
		return in, false, err
	}
	return renewed, true, err
}

// writable checks that a file can be created in the directory dir.
var writable = func(dir string) error {
	f, err := os.CreateTemp(dir, ".tokenagent-probe*")
	if err != nil {
		return fmt.Errorf("cannot write to %s: %w", filepath.Clean(dir), err)
	}
	f.Close()
	return os.Remove(f.Name())
}
