// Package loadtest measures the agent against bare PKCS#11 on a SoftHSM
// token, side by side in one run: what the agent's layers cost on top of
// the token. It has no code of its own; `make bench` runs its tests with
// TOKENAGENT_LOAD=1 and prints the figures.
package loadtest
