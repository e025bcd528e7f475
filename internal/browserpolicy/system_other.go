//go:build !windows && !darwin

package browserpolicy

import "os"

func thisSystem() system { return fileSystem{fsys: os.DirFS("/")} }
