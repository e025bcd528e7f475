// Package state keeps what the agent must remember across restarts and
// crashes in its state directory: one small file per kind of state, each
// written whole (internal/atomicfile), so that a crash leaves the old
// content or the new. It also opens the agent's other private files (the
// audit log) the same careful way.
//
// # Safety
//
// The state directory holds the wrong-PIN throttle and, by default, the
// audit log. Another user who could write in it could reset the throttle,
// or read and empty the log. So Open refuses a directory that is not the
// agent's user's with mode 0700, and creates a missing one so; files are
// opened without following a symbolic link (O_NOFOLLOW), must belong to
// the agent's user, and are kept readable by it only (0600). The parents
// of the directory are not checked: whoever can rename them owns the
// agent's home anyway.
//
// On Windows files have ACLs, not owners and modes in this sense; the
// checks are left to the ACLs of %ProgramData% and %LOCALAPPDATA% there,
// and symbolic links are followed.
//
// A Dir is safe for concurrent use; callers that read, change and write
// one file serialise that themselves (each kind of state has one owner).
package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tokenagent/tokenagent/internal/atomicfile"
)

// Dir is the agent's state directory.
type Dir struct {
	path string
}

// dirMode is the only mode a state directory may have.
const dirMode fs.FileMode = 0o700

// fileMode is the mode of every file the agent keeps to itself.
const fileMode fs.FileMode = 0o600

// Open opens the state directory at path, creating it (and its missing
// parents) with mode 0700 if it does not exist. An existing directory must
// belong to the agent's user and have mode 0700, else Open refuses with an
// error that says what is wrong and how to mend it.
func Open(path string) (*Dir, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(path, dirMode); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
		// MkdirAll's mode passes through the umask; say it exactly.
		if err := os.Chmod(path, dirMode); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
		fi, err = os.Stat(path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the state directory: %w", err)
	}
	if err := checkStateDir(path, fi); err != nil {
		return nil, err
	}
	return &Dir{path: path}, nil
}

// checkStateDir refuses a state directory that is not a directory, not the
// agent's user's, or open to anyone else.
func checkStateDir(path string, fi fs.FileInfo) error {
	switch {
	case !fi.IsDir():
		return fmt.Errorf("state directory %s is not a directory", path)
	case !checksOwnership:
		return nil
	case fileOwner(fi) != os.Geteuid():
		return fmt.Errorf("state directory %s belongs to uid %d, not to the agent's user (uid %d): "+
			"another user could reset the PIN throttle and read the audit log there; remove it, or give the agent a directory of its own",
			path, fileOwner(fi), os.Geteuid())
	case fi.Mode().Perm() != dirMode:
		return fmt.Errorf("state directory %s has mode %04o, not 0700: other users could reach the PIN throttle and the audit log there; run chmod 700 %s",
			path, fi.Mode().Perm(), path)
	}
	return nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// ReadFile returns the content of the state file name; an error that
// satisfies errors.Is(err, fs.ErrNotExist) when there is none yet. A
// symbolic link, or a file of another user, is refused.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := openOwn(filepath.Join(d.path, name), os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("reading state %s: %w", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading state %s: %w", name, err)
	}
	return b, nil
}

// WriteFile replaces the state file name with data, readable by the
// agent's user only. (The rename that replaces it replaces a symbolic
// link itself, never what it points to.)
func (d *Dir) WriteFile(name string, data []byte) error {
	if err := atomicfile.Write(filepath.Join(d.path, name), data, fileMode); err != nil {
		return fmt.Errorf("saving state %s: %w", name, err)
	}
	return nil
}

// OpenAppend opens the private file at path (the audit log) for appending,
// creating it with mode 0600; its directory must exist. It does not follow
// a symbolic link at path, and refuses what is not a regular file of the
// agent's user. An existing file that others may read or write (0644,
// 0666) is tightened to 0600, and was is the mode it had; was is 0 when
// nothing changed. (Whoever opened it while it was open keeps what they
// opened: the caller should say so.)
func OpenAppend(path string) (f *os.File, was fs.FileMode, err error) {
	f, err = openOwn(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if perm := fi.Mode().Perm(); checksOwnership && perm&^fileMode != 0 {
		if err := f.Chmod(fileMode); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("tightening %s from mode %04o to 0600: %w", path, perm, err)
		}
		was = perm
	}
	return f, was, nil
}

// openOwn opens path without following a symbolic link there and refuses
// anything but a regular file of the agent's user.
func openOwn(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|openNoFollow, perm)
	if err != nil {
		if isSymlink(path) {
			return nil, fmt.Errorf("%s is a symbolic link, which the agent does not follow", path)
		}
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%s is not a regular file", path)
	case checksOwnership && fileOwner(fi) != os.Geteuid():
		err = fmt.Errorf("%s belongs to uid %d, not to the agent's user (uid %d)", path, fileOwner(fi), os.Geteuid())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func isSymlink(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode()&fs.ModeSymlink != 0
}

// CheckDir checks a directory outside the state directory that the agent
// keeps a private file in (a configured audit_log's, where the log is
// rotated): it must belong to the agent's user or to root, and no one else
// may write in it, or they could swap the files.
func CheckDir(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", path)
	case !checksOwnership:
		return nil
	case fileOwner(fi) != os.Geteuid() && fileOwner(fi) != 0:
		return fmt.Errorf("directory %s belongs to uid %d, neither the agent's user (uid %d) nor root", path, fileOwner(fi), os.Geteuid())
	case fi.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("directory %s has mode %04o: others may write in it (run chmod go-w %s)", path, fi.Mode().Perm(), path)
	}
	return nil
}
