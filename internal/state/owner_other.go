//go:build !unix

package state

import "io/fs"

// checksOwnership: elsewhere (Windows) files have ACLs instead of an owner
// and a mode in the Unix sense; see the package doc.
const checksOwnership = false

const openNoFollow = 0

func fileOwner(fs.FileInfo) int { return -1 }
