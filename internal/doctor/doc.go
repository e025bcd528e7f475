// Package doctor checks what `tokenagent doctor` checks: the service; the
// running agent, asked over its socket as a local program what it has (its
// modules and their tokens) and, from how its process was started, which
// origins it accepts; then the config, the PKCS#11 modules, the PC/SC
// service, the allowed origins and the local TLS certificate and its
// trust. It returns findings as data, each with how to fix it; the command
// prints them (the golden files of cmd/tokenagent show how) and picks the
// exit code.
//
// doctor speaks the wire as a client, decoding only the members it
// reports; the protocol is ws's. ListeningProcess finds the process behind
// an address in /proc (Linux only); reading that process's command line is
// the command's, which owns run's flags.
//
// What lies outside the config is reached through a Probe, so that tests
// can set the platform, the service manager's answer and the PC/SC state.
//
// # Adding a check
//
// Write a method of checker that records its findings with ok, info, warn
// or fail (warn and fail take the fix, in words a user can follow, naming
// the command or the config key to change) and detail for lines under the
// last finding, and call it from Check, in the order the output should
// read. A check that needs something from outside the config gets a field
// in Probe, which the command fills for the real system.
//
// A Check runs its checks one after the other; it is safe to run several
// Checks at once.
package doctor
