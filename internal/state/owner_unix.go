//go:build unix

package state

import (
	"io/fs"
	"syscall"
)

// checksOwnership: Unix files have an owner and a mode to check.
const checksOwnership = true

// openNoFollow makes opening a symbolic link fail.
const openNoFollow = syscall.O_NOFOLLOW

// fileOwner returns the uid of the owner of the file fi describes.
func fileOwner(fi fs.FileInfo) int {
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}
