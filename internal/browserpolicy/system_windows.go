package browserpolicy

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"golang.org/x/sys/windows/registry"
)

// registrySystem reads the policies under HKEY_LOCAL_MACHINE and
// HKEY_CURRENT_USER, where Group Policy and .reg files put them: a list
// policy is a key whose values "1", "2", … are its entries.
type registrySystem struct{}

func thisSystem() system { return registrySystem{} }

// envVar matches %NAME% in a Windows path.
var envVar = regexp.MustCompile(`%([^%]+)%`)

func (registrySystem) installed(b Browser) bool {
	for _, p := range b.WindowsPrograms {
		expanded := envVar.ReplaceAllStringFunc(p, func(v string) string { return os.Getenv(v[1 : len(v)-1]) })
		if _, err := os.Stat(expanded); err == nil {
			return true
		}
	}
	return false
}

func (registrySystem) policies(b Browser) ([]Policy, []error) {
	names := map[string]string{} // policy → its key under b.WindowsKey
	for _, n := range ChromiumPolicies {
		names[n] = n
	}
	if b.Firefox {
		names = map[string]string{firefoxSkipDomains: FirefoxPolicy + `\SkipDomains`}
	}
	var out []Policy
	var errs []error
	for _, root := range []struct {
		key  registry.Key
		name string
	}{{registry.LOCAL_MACHINE, "HKLM"}, {registry.CURRENT_USER, "HKCU"}} {
		for name, sub := range names {
			path := b.WindowsKey + `\` + sub
			values, err := readList(root.key, path)
			if errors.Is(err, registry.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("reading %s\\%s: %w", root.name, path, err))
				continue
			}
			out = append(out, Policy{Name: name, Values: values, Source: root.name + `\` + path})
		}
	}
	return out, errs
}

// readList reads the string values of a list policy's key.
func readList(root registry.Key, path string) ([]string, error) {
	k, err := registry.OpenKey(root, path, registry.QUERY_VALUE)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	names, err := k.ReadValueNames(0)
	if err != nil {
		return nil, err
	}
	var values []string
	for _, n := range names {
		v, _, err := k.GetStringValue(n)
		if err != nil {
			return nil, fmt.Errorf("value %s: %w", n, err)
		}
		values = append(values, v)
	}
	return values, nil
}
