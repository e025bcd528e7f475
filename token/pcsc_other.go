//go:build !darwin

package token

// pcscHasPnP tells whether the PC/SC service signals reader changes through
// the \\?PnP?\Notification pseudo-reader. pcsc-lite and Windows do.
const pcscHasPnP = true
