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
// with ErrClosed. A Manager can load a module while running (AddModule), for a
// card plugged in later.
//
// A module is re-initialised (C_Finalize, C_Initialize) by Manager.Refresh,
// and at the end of a call that needed it, only when no call is in flight
// (the write side taken with TryLock), and the sessions and object handles
// kept for its tokens are dropped with it:
//   - when a call failed as if the module's back end went away
//     (CKR_GENERAL_ERROR, CKR_DEVICE_ERROR, CKR_CRYPTOKI_NOT_INITIALIZED: a TPM
//     restarted under tpm2-pkcs11 answers every login so until then);
//     Modules reports it ModuleRecovering meanwhile;
//   - when a re-initialisation failed: it is tried again at the next
//     Refresh, the module lists no tokens, and Modules reports it
//     ModuleFailed with the error until then;
//   - for SoftHSM, which reads its token store only at C_Initialize, when
//     the entries of its token directory changed.
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
// no lock. What a module keeps per token (the lock, the session, the
// mechanism list, the certificates last read) lives in one tokenState,
// touched only by the call holding that token's lock.
//
// # Logging in
//
// A call first reads the token's info under its lock (C_GetTokenInfo) and
// refuses, without touching the token further, what the info says cannot
// work (Credentials): a write to a write-protected token (ErrReadOnly), a key
// pair the token's mechanisms do not make (ErrMechanismUnsupported, from
// C_GetMechanismList and C_GetMechanismInfo, read once per token), a locked
// PIN or an unconfirmed final try, an empty PIN, and a user PIN outside the
// token's length rules, so that a typo never costs a try (PINInvalid). A
// token whose CKF_LOGIN_REQUIRED is clear is used without C_Login. A token
// with a PIN pad (CKF_PROTECTED_AUTHENTICATION_PATH) is logged in to with no
// PIN, and the person types it on the reader. A key with
// CKA_ALWAYS_AUTHENTICATE gets a CKU_CONTEXT_SPECIFIC login with the call's
// PIN after each C_SignInit. ChangePIN logs in with the old PIN before
// C_SetPIN: tpm2-pkcs11's C_SetPIN answers CKR_OK to a wrong old PIN and
// changes nothing.
//
// # Calls into the token
//
// On a card each PKCS#11 call can be a round trip over USB, so calls are
// spared. Once a token's mechanism list and certificates have been read, a
// signature by the key of a certificate (sign) makes eleven calls, each
// needed (TestSignCalls counts them in the fault shim's call log):
//   - C_GetTokenInfo: the token is still in its slot and is the one the id
//     names, and its PIN flags decide the final-try and locked refusals;
//   - C_GetSessionInfo: the session kept from the last call is still open
//     on this slot;
//   - C_Login: the call's PIN;
//   - C_GetAttributeValue: the certificate remembered from an earlier read
//     is still the one on the token (its value, read whole);
//   - C_FindObjectsInit, C_FindObjects twice, C_FindObjectsFinal: the private
//     key with the certificate's CKA_ID, and that it is the only one (only an
//     empty answer ends a search);
//   - C_SignInit, C_Sign;
//   - C_Logout: no login outlives the call.
//
// Where miekg/pkcs11 asks for a length first and then for the value
// (C_GetAttributeValue, C_Sign), the certificate's value and a signature are
// read with one call into a buffer sized beforehand (direct_unix.go).
// C_GetSlotInfo is not read again under the lock: C_GetTokenInfo answers
// CKR_TOKEN_NOT_PRESENT for an empty slot by itself. Every further item of a
// sign.batch costs C_SignInit and C_Sign: the items are signed one after the
// other with the key itself, in the call's one session, on every token.
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
// A Manager told the readers' state (FollowReaders) lists a module whose
// slots are card readers (CKF_REMOVABLE_DEVICE, asked once at load) from
// its last listing while the readers hold the same cards, reading only each
// token's info again: OpenSC probes a card it has no driver for at every
// C_GetSlotList and C_GetSlotInfo (some 5 s each), so such a card is probed
// once per insertion, not at every listing.
//
// # Identity
//
// A token's id is derived from the module path, manufacturer, model and
// serial number (TokenID), never from slot numbers alone, which modules may
// renumber. A serial that says nothing (empty, or all zeros, as tpm2-pkcs11
// gives every token of a TPM) brings in the label; tokens of one module that
// would still share an id all bring in the label and, as a last resort, the
// slot number. So an id never names two tokens, and a call checks under the
// token's lock that its slot holds the token its id names. Strings from the
// module are cut at the first NUL and trimmed of their blank padding. An
// object's id is the lowercase hex of its CKA_ID, with "~N" appended to keep
// ids unique within a class.
//
// # Errors
//
// PKCS#11 return codes become errors callers can branch on with errors.Is and
// errors.As: ErrTokenRemoved for a token gone mid-call, ErrReadOnly,
// ErrMechanismUnsupported, *PINError for PIN problems, *DeviceError for other
// module failures (it unwraps to the raw pkcs11.Error).
package token
