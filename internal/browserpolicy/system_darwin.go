package browserpolicy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"time"
)

// macSystem reads managed preferences, which MDM profiles install as
// (binary) property lists under /Library/Managed Preferences, machine-wide
// and per user; plutil turns them into JSON.
type macSystem struct{}

func thisSystem() system { return macSystem{} }

func (macSystem) installed(b Browser) bool {
	_, err := os.Stat(b.MacApp)
	return err == nil
}

func (macSystem) policies(b Browser) ([]Policy, []error) {
	dirs := []string{"/Library/Managed Preferences"}
	if u, err := user.Current(); err == nil {
		dirs = append(dirs, filepath.Join("/Library/Managed Preferences", u.Username))
	}
	var out []Policy
	var errs []error
	for _, dir := range dirs {
		file := filepath.Join(dir, b.MacDomain+".plist")
		if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		ps, err := readPlist(b, file)
		out = append(out, ps...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errs
}

func readPlist(b Browser, file string) ([]Policy, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, err := exec.CommandContext(ctx, "plutil", "-convert", "json", "-o", "-", file).Output()
	if err != nil {
		return nil, fmt.Errorf("reading %s with plutil: %w", file, err)
	}
	if !b.Firefox {
		return chromiumPolicies(data, file)
	}
	var prefs map[string]json.RawMessage
	if err := json.Unmarshal(data, &prefs); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return firefoxPolicies(prefs, file)
}
