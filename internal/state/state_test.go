package state

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("state directory: %v, mode %v; want 0700", err, st.Mode().Perm())
	}
	if _, err := d.ReadFile("throttle.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("reading a file never written: %v, want fs.ErrNotExist", err)
	}
	for _, content := range []string{`{"a":1}`, `{}`} {
		if err := d.WriteFile("throttle.json", []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := d.ReadFile("throttle.json")
		if err != nil || string(got) != content {
			t.Errorf("read back %q, %v; want %q", got, err, content)
		}
	}
	if st, err := os.Stat(filepath.Join(path, "throttle.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
}
