// Package token owns all access to hardware: PKCS#11 modules, their slots and
// tokens, sessions and objects. It is the only package that uses cgo.
//
// # Modules
//
// A PKCS#11 library may be initialised once per process, so modules are kept
// in a process-wide registry keyed by the library's resolved path and
// reference counted: Open on an already loaded path shares its context, and the
// last Close finalises it. A module's context is guarded by a read-write mutex:
// every call holds the read side, finalisation holds the write side, so a
// module is never finalised under a running call, and calls after Close fail
// with ErrClosed.
//
// SoftHSM reads its token store only at C_Initialize. Manager.Refresh
// re-initialises it when the entries of its token directory changed, taking
// the write side with TryLock so that a module with a call in flight is
// skipped, and drops the sessions and object handles it kept for its
// tokens. A module whose
// re-initialisation fails is tried again at the next Refresh, and Modules
// reports the failure until then. A Manager can
// load a module while running (AddModule), for a card plugged in later.
//
// IdentifyCard maps a card's ATR to the vendor and module that speak to it,
// from a small built-in catalogue.
//
// # Sessions and concurrency
//
// Each physical token has one lock and keeps one session open between calls
// (opening sessions and finding objects again is what makes calls slow).
// Every operation that uses the session holds the lock for the whole
// operation and logs out before releasing it, so one call's login never
// lends its state to another call. A failed operation closes the session,
// whose state is then unknown. Waiting for the lock honours the caller's
// context. Listing slots and reading token info needs no session and takes
// no lock.
//
// # PC/SC
//
// WatchPCSC follows the PC/SC readers and the cards in them: the reader list,
// whether a card is present, and its ATR. It only asks the service for reader
// states (SCardGetStatusChange) and never connects to a card, so it takes no
// lock on any card and other programs keep working. One goroutine blocks in
// SCardGetStatusChange without a timeout and wakes when a card changes or,
// through the \\?PnP?\Notification pseudo-reader, when the reader list
// changes, so an idle watcher uses no CPU; macOS has no such notification, and
// there the reader list is polled every second. When the service goes away
// (pcscd stopped or restarted), State reports it unavailable with the reason,
// and the watcher releases its context and establishes a new one with backoff
// (250 ms doubling to 5 s) until the service is back. onChange runs on the
// watcher's goroutine, never concurrently; State is safe for concurrent use;
// Close cancels the blocked call and waits for the goroutine.
//
// # Identity
//
// A token's id is derived from the module path, manufacturer, model and
// serial number, never from slot numbers, which modules may renumber. An
// object's id is the lowercase hex of its CKA_ID, with "~N" appended to keep
// ids unique within a class.
//
// # Errors
//
// PKCS#11 return codes become errors callers can branch on with errors.Is and
// errors.As: ErrTokenRemoved for a token gone mid-call, *DeviceError for other
// module failures (it unwraps to the raw pkcs11.Error).
package token
