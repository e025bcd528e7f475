//go:build !windows && !darwin

package localtls

import (
	"fmt"
	"os/exec"
)

func openOSStore(ref StoreRef) (Store, error) {
	return nil, fmt.Errorf("trust store %s is not available on this system", ref)
}

// SystemStores returns the stores setup installs into by default: the
// Debian-family system store when update-ca-certificates is installed
// (not with user set: it is the machine's), and, when certutil is
// installed, the browsers' NSS databases of the user whose home is home.
// Other distributions' system stores (Fedora's update-ca-trust) are not
// supported.
func SystemStores(user bool, home string, o Options) []Store {
	var stores []Store
	if !user {
		if _, err := exec.LookPath("update-ca-certificates"); err == nil || len(o.UpdateCmd) > 0 {
			stores = append(stores, &DebianStore{Dir: DebianDir, UpdateCmd: o.UpdateCmd})
		}
	}
	if _, err := o.FindCertutil(); err == nil && home != "" {
		for _, db := range NSSDatabases(home) {
			stores = append(stores, &NSSStore{DB: db, Certutil: o.Certutil})
		}
	}
	return stores
}
