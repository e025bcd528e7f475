// Package agent holds tokenagent's use cases: the token inventory,
// certificate lifetimes, media profiles, key lifecycle and renewal, PIN
// management, signing, the audit records and events. It knows nothing of JSON or sockets:
// the ws package maps the protocol onto the methods here.
//
// The agent declares the small interfaces it needs from the hardware layer
// (Hardware) and is safe for concurrent use; it keeps no per-call state, and
// serialisation of token access is the hardware layer's job.
//
// Events: Run is the one goroutine that watches the tokens. While anyone
// is subscribed it lists them every poll interval and when ReadersChanged
// (the PC/SC watcher's onChange) kicks it, and publishes the difference to
// a Hub; with nobody subscribed it sleeps. Publishing never blocks: each
// subscriber has a bounded queue, and one whose queue is full is dropped
// (its onDrop is called) rather than waited for.
//
// Reads: concurrent Tokens calls share one listing, and concurrent
// Certificates calls for one token one reading (coalescer); a caller only
// joins a reading that starts after it arrived.
//
// PIN-taking calls: each runs through one pinAttempt, which applies the
// wrong-PIN throttle (per kind of PIN, per origin and per token) before
// the token is touched, counts the outcome, and writes the call's audit
// record whatever happened. The calls taking one kind of PIN on one token
// run one at a time, check to count, so concurrent calls cannot all pass
// the check before a wrong PIN is counted. The throttle is the one owner
// of its file in the state directory (Options.State), which it saves
// after each change that matters, before the call answers.
//
// Consent: a call with a Consent (consent.go) carries no PIN; the agent
// asks the person for it through the Consent, outside the turn, so that a
// person taking their time holds up no other call, and tries each answer
// in the turn as any other call's PIN.
//
// Errors: every error an Agent method returns is an *Error of a Kind, with
// the details of its kind as typed fields, so callers never have to guess
// how to report it; the ws package maps kinds to the protocol's codes,
// reasons and data. How to add a kind is in errors.go.
package agent
