//go:build !linux

package doctor

import (
	"errors"
	"fmt"
	"runtime"
)

// ListeningProcess would find the process listening at addr; only Linux
// shows another process's sockets and command line without tools (/proc).
func ListeningProcess(addr string) (Process, error) {
	return Process{}, fmt.Errorf("finding the process listening at %s on %s: %w", addr, runtime.GOOS, errors.ErrUnsupported)
}
