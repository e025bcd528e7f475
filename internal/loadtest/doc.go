// Package loadtest measures the agent on SoftHSM: its sign paths side by
// side in one run with bare PKCS#11 and with a WebSocket server that does
// nothing, run as a process of its own (sign_test.go, echo_test.go); and the
// agent binary as its own process under 1,000 connections, a soak of mixed
// calls, and at idle, read from /proc (agent_test.go). It has no code of its
// own; `make bench` runs its tests with TOKENAGENT_LOAD=1 (and
// TOKENAGENT_SOAK for the soak's length) and prints the figures that
// docs/PERFORMANCE.md records. Everything stays on loopback.
package loadtest
