//go:build !linux

package pcsctest

import (
	"syscall"
	"time"
)

// CheckInstalled refuses anything but Linux, so these are never used.

func childAttr() *syscall.SysProcAttr { return nil }

func lockMachine(string, time.Duration) (func(), error) { return func() {}, nil }
