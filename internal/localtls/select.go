package localtls

import (
	"fmt"
	"os"
	"path/filepath"
)

// Selection says which trust stores a command works on: the ones named
// (TrustDir, NSSDBs), else the platform's (see SystemStores) and,
// system-wide, the browsers of every user of the computer too: the
// system-wide agent serves them all, and on Linux browsers trust only
// their own databases.
type Selection struct {
	User     bool     // the current user's stores instead of the system-wide ones
	TrustDir string   // a Debian-style CA directory instead of the default stores
	NSSDBs   []string // NSS databases instead of the default stores
	Options  Options  // the commands the stores run
}

// Explicit tells whether the selection names the stores to use.
func (s Selection) Explicit() bool { return s.TrustDir != "" || len(s.NSSDBs) > 0 }

// Stores returns the stores setup installs into.
func (s Selection) Stores() []Store {
	o := s.Options
	if !s.Explicit() {
		home, _ := os.UserHomeDir() // without a home there are no browser databases
		stores := SystemStores(s.User, home, o)
		if !s.User {
			stores = append(stores, usersBrowsers(home, o)...)
		}
		return stores
	}
	var stores []Store
	if s.TrustDir != "" {
		stores = append(stores, &SystemStore{Kind: KindDebian, Dir: s.TrustDir, UpdateCmd: o.UpdateCmd})
	}
	for _, db := range s.NSSDBs {
		stores = append(stores, &NSSStore{DB: db, Certutil: o.Certutil})
	}
	return stores
}

// TrustStores returns the stores to look for in's CA in: those setup
// recorded, then those setup would use now (the current user's browsers
// among them). Recorded stores that cannot be opened come back with why.
func (s Selection) TrustStores(in *Installation) (stores []Store, unopened []error) {
	seen := map[StoreRef]bool{}
	for _, ref := range in.State.Stores {
		seen[ref] = true
		st, err := Open(ref, s.Options)
		if err != nil {
			unopened = append(unopened, fmt.Errorf("%s: %w", ref, err))
			continue
		}
		stores = append(stores, st)
	}
	for _, st := range s.Stores() {
		if !seen[st.Ref()] {
			stores = append(stores, st)
			seen[st.Ref()] = true
		}
	}
	return stores, unopened
}

// userHomes are where the homes of a computer's users are; a variable for
// tests.
var userHomes = []string{"/home/*", "/Users/*"}

// usersBrowsers returns the browser NSS databases in every user's home but
// own (SystemStores has those), when certutil is installed. certutil run as
// root changes a database's files in place, so they keep their owner.
func usersBrowsers(own string, o Options) []Store {
	if _, err := o.FindCertutil(); err != nil {
		return nil
	}
	var stores []Store
	for _, pattern := range userHomes {
		homes, _ := filepath.Glob(pattern) // the patterns are well-formed
		for _, home := range homes {
			if home == own {
				continue
			}
			for _, db := range NSSDatabases(home) {
				stores = append(stores, &NSSStore{DB: db, Certutil: o.Certutil})
			}
		}
	}
	return stores
}
