// Package localtls makes the agent reachable from HTTPS pages: it creates a
// local certificate authority, issues the agent's server certificate under
// it, and installs the authority into the trust stores browsers read.
//
// The authority is name-constrained (critical) to the DNS name localhost
// and the addresses 127.0.0.1 and ::1, and may only issue server
// certificates. Its private key exists only in memory while Issue runs: it
// signs the one server certificate and is then dropped (see Issue), so that
// nobody, the agent included, can issue anything else under it. Renewal is
// a fresh authority, not a new certificate under the old one.
//
// Trust stores are behind the Store interface: the system store of the
// Linux distribution's family (one row each in systemTrusts: Debian's
// update-ca-certificates, Fedora's and RHEL's update-ca-trust, openSUSE's
// update-ca-certificates, Arch's trust), NSS databases (Chrome, Chromium,
// Firefox) through certutil, and, on their systems, the Windows Root store
// and the macOS keychains. Install records in a state file next to the
// certificates which stores it put the authority into, so that Uninstall
// removes it from exactly those.
//
// Nothing here is safe for concurrent use on the same directory: the
// functions are meant for one command at a time.
package localtls
