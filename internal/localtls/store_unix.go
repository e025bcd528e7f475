//go:build !windows && !darwin

package localtls

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

func openOSStore(ref StoreRef) (Store, error) {
	return nil, fmt.Errorf("trust store %s is not available on this system", ref)
}

// SystemStores returns the stores setup installs into by default: the
// system store of the distribution's family (not with user set: it is the
// machine's), and, when certutil is installed, the browsers' NSS databases
// of the user whose home is home.
func SystemStores(user bool, home string, o Options) []Store {
	var stores []Store
	if !user {
		if s := systemStore("/", o); s != nil {
			stores = append(stores, s)
		}
	}
	if _, err := o.FindCertutil(); err == nil && home != "" {
		for _, db := range NSSDatabases(home) {
			stores = append(stores, &NSSStore{DB: db, Certutil: o.Certutil})
		}
	}
	return stores
}

// systemStore returns the system store of the first family in
// systemTrusts whose directory exists under root and whose command is
// installed (or replaced in o); nil when there is none.
func systemStore(root string, o Options) *SystemStore {
	for _, t := range systemTrusts {
		dir := filepath.Join(root, t.dir)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		if _, err := exec.LookPath(t.update[0]); err == nil || len(o.UpdateCmd) > 0 {
			return &SystemStore{Kind: t.kind, Dir: dir, UpdateCmd: o.UpdateCmd}
		}
	}
	return nil
}
