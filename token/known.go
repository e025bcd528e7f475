package token

import "os"

// knownModule is a vendor's PKCS#11 library and where its installers put it.
type knownModule struct {
	vendor string
	paths  []string // most likely first
}

// KnownModules returns, for every vendor module known on this platform that
// is installed, the first path where it is found. It is what the agent loads
// when the configuration names no modules.
func KnownModules() []string {
	var found []string
	for _, k := range knownModules {
		for _, p := range k.paths {
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				found = append(found, p)
				break
			}
		}
	}
	return found
}
