// Package atomicfile writes files so that a reader, or the system after a
// crash, sees the old content or the new, never a mix or an empty file. It
// is the one file writer for what the agent's commands change on disk: the
// certificates and state of `tls setup`, the trust store files and the
// config file that setup edits.
//
// The functions are safe for concurrent use on different paths; two
// writers of one path leave one of the two contents.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with perm through a temporary file in the
// same directory: the data is synced to disk before the rename replaces
// path, and the directory after it, so that the rename itself survives a
// crash. The directory must exist.
func Write(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := writeSynced(f, data, perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// writeSynced gives f its mode and content, syncs and closes it.
func writeSynced(f *os.File, data []byte, perm fs.FileMode) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// syncDir flushes a directory's entries, where the system allows it
// (Windows does not open directories; the rename is durable there once
// MoveFileEx returns). A failure is not the write's: the new content is in
// place either way.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
