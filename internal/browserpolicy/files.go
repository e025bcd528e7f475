package browserpolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// fileSystem reads policies the Linux way, from files: every *.json in a
// Chromium browser's managed policy directory, and Firefox's
// policies.json files. Paths in Browsers are absolute; fsys is rooted at
// "/" (tests root it in a directory of their own).
type fileSystem struct {
	fsys fs.FS
}

func rel(p string) string { return strings.TrimPrefix(p, "/") }

func (s fileSystem) installed(b Browser) bool {
	for _, p := range b.LinuxPrograms {
		if _, err := fs.Stat(s.fsys, rel(p)); err == nil {
			return true
		}
	}
	return false
}

func (s fileSystem) policies(b Browser) ([]Policy, []error) {
	var out []Policy
	var errs []error
	for _, place := range b.LinuxPolicies {
		if b.Firefox {
			ps, err := s.firefoxFile(place)
			out = append(out, ps...)
			if err != nil {
				errs = append(errs, err)
			}
			continue
		}
		entries, err := fs.ReadDir(s.fsys, rel(place))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("reading %s: %w", place, err))
			}
			continue
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			file := path.Join(place, e.Name())
			data, err := fs.ReadFile(s.fsys, rel(file))
			if err != nil {
				errs = append(errs, fmt.Errorf("reading %s: %w", file, err))
				continue
			}
			ps, err := chromiumPolicies(data, file)
			out = append(out, ps...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return out, errs
}

// firefoxFile reads a policies.json; one that does not exist has none.
func (s fileSystem) firefoxFile(file string) ([]Policy, error) {
	data, err := fs.ReadFile(s.fsys, rel(file))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var doc struct {
		Policies map[string]json.RawMessage `json:"policies"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return firefoxPolicies(doc.Policies, file)
}
