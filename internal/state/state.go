// Package state keeps what the agent must remember across restarts and
// crashes in its state directory: one small file per kind of state, each
// written whole (internal/atomicfile), so that a crash leaves the old
// content or the new.
//
// A Dir is safe for concurrent use; callers that read, change and write
// one file serialise that themselves (each kind of state has one owner).
package state

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tokenagent/tokenagent/internal/atomicfile"
)

// Dir is the agent's state directory.
type Dir struct {
	path string
}

// Open opens the state directory at path, creating it (mode 0700) if it
// does not exist.
func Open(path string) (*Dir, error) {
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state directory: %w", err)
	}
	return &Dir{path: path}, nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// ReadFile returns the content of the state file name; an error that
// satisfies errors.Is(err, fs.ErrNotExist) when there is none yet.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(d.path, name))
	if err != nil {
		return nil, fmt.Errorf("reading state %s: %w", name, err)
	}
	return b, nil
}

// WriteFile replaces the state file name with data, readable by the
// agent's user only.
func (d *Dir) WriteFile(name string, data []byte) error {
	if err := atomicfile.Write(filepath.Join(d.path, name), data, 0o600); err != nil {
		return fmt.Errorf("saving state %s: %w", name, err)
	}
	return nil
}
