package token

// pcscHasPnP tells whether the PC/SC service signals reader changes through
// the \\?PnP?\Notification pseudo-reader. macOS's does not: the watcher
// polls the reader list there.
const pcscHasPnP = false
