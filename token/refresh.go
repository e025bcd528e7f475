package token

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miekg/pkcs11"
)

// Refresh re-initialises the modules that need it, when no call is using
// them:
//   - a module whose calls failed as if its back end went away
//     (backendGone: the TPM behind tpm2-pkcs11 restarted, a reader's
//     driver lost its device), which answers every call wrongly until then;
//   - a module whose earlier re-initialisation failed, tried again;
//   - a module that sees token changes made by other processes only at
//     C_Initialize, when its token store has changed since: SoftHSM, which
//     reads its token directory only then (see tokenStore).
//
// Other modules report tokens coming and going by themselves and are left
// alone; re-initialising them would drop every session for nothing. A
// module with a call in flight is skipped this time, so Refresh never
// waits for a token and never disturbs a call. It is meant to be called
// before listing the tokens.
//
// Re-initialising invalidates every session and object handle of the
// module, so what the module keeps per token that holds handles (the open
// session, the certificates last read) is dropped with it; the token locks
// and the mechanism lists stay.
func (m *Manager) Refresh() {
	if m.isClosed() {
		return
	}
	for _, mod := range m.loaded() {
		m.refresh(mod)
	}
}

// refresh is Refresh for one module.
func (m *Manager) refresh(mod *Module) {
	done, err := mod.refresh()
	switch {
	case err != nil:
		m.log.Warn("re-initialising module failed", "module", mod.path, "err", err)
	case done:
		m.log.Info("module re-initialised", "module", mod.path)
	}
}

// backendGone tells whether err is a return code that means the module's
// back end went away or is in a state no call will get it out of: a TPM
// simulator restarted under tpm2-pkcs11 answers CKR_GENERAL_ERROR to every
// login until the module is initialised again.
func backendGone(err error) bool {
	var de *DeviceError
	if !errors.As(err, &de) {
		return false
	}
	switch de.Code {
	case pkcs11.CKR_GENERAL_ERROR, pkcs11.CKR_DEVICE_ERROR, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return true
	}
	return false
}

// noteFailure marks the module for re-initialisation when err says its
// back end went away, and tells whether it did.
func (mod *Module) noteFailure(err error) bool {
	if !backendGone(err) {
		return false
	}
	mod.healthMu.Lock()
	defer mod.healthMu.Unlock()
	if mod.failing == nil {
		mod.failing = err
	}
	return true
}

// health is the module's state for Modules.
func (mod *Module) health() (ModuleState, error) {
	mod.healthMu.Lock()
	defer mod.healthMu.Unlock()
	switch {
	case mod.initErr != nil:
		return ModuleFailed, mod.initErr
	case mod.failing != nil:
		return ModuleRecovering, mod.failing
	}
	return ModuleReady, nil
}

// initError returns why the last re-initialisation failed; nil when the
// module is initialised.
func (mod *Module) initError() error {
	mod.healthMu.Lock()
	defer mod.healthMu.Unlock()
	return mod.initErr
}

// failure returns the error that marked the module for re-initialisation.
func (mod *Module) failure() error {
	mod.healthMu.Lock()
	defer mod.healthMu.Unlock()
	return mod.failing
}

// refresh re-initialises the module when it failed, or its token store
// changed, and no call is using it. It tells whether it did.
func (mod *Module) refresh() (bool, error) {
	// Listed before locking: reading a directory needs no lock, and a
	// listing taken too early only costs one more refresh later.
	var listing string
	if mod.store != nil {
		listing = mod.store.listing()
	}
	if !mod.mu.TryLock() {
		return false, nil // busy: next time
	}
	defer mod.mu.Unlock()
	if mod.closed {
		return false, nil
	}
	if mod.initError() != nil {
		// A previous C_Initialize failed: only try again.
		return mod.reinitialise()
	}
	// changed takes the listing as seen, so it is asked whenever there is
	// a store.
	storeChanged := mod.store != nil && mod.store.changed(listing)
	if !storeChanged && mod.failure() == nil {
		return false, nil
	}
	if err := mod.p11.Finalize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)) {
		return false, fmt.Errorf("finalising module %s: %w", mod.path, mapError("C_Finalize", err))
	}
	mod.forgetHandles()
	return mod.reinitialise()
}

// reinitialise calls C_Initialize; the caller holds mu for writing.
func (mod *Module) reinitialise() (bool, error) {
	err := mod.p11.Initialize()
	mod.healthMu.Lock()
	defer mod.healthMu.Unlock()
	if err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		mod.initErr = fmt.Errorf("initialising module %s: %w", mod.path, mapError("C_Initialize", err))
		return false, mod.initErr
	}
	mod.initErr, mod.failing = nil, nil
	return true, nil
}

// forgetHandles drops the per-token state that holds session or object
// handles, which a re-initialisation invalidates; the caller holds mu for
// writing.
func (mod *Module) forgetHandles() {
	mod.memoMu.Lock()
	mod.memo = nil // slots may be numbered anew
	mod.memoMu.Unlock()
	mod.tokensMu.Lock()
	defer mod.tokensMu.Unlock()
	for _, st := range mod.tokens {
		st.hasSession = false
		st.certs, st.keyAuth = nil, nil
	}
}

// tokenStore is SoftHSM's token directory, watched so that the module is
// re-initialised only when a token was made or deleted there, or got its
// user PIN. SoftHSM keeps each token in a subdirectory with a fresh name,
// and re-reads the files inside one (objects, PIN flags) by itself, except
// the PIN blobs, which it reads only at C_Initialize: a module initialised
// between another process's C_InitToken and its C_InitPIN answers
// CKR_USER_PIN_NOT_INITIALIZED to every login until it is initialised
// again. So the listing holds each token's name and the size of its
// token.object, which grows by the user PIN's blob and by nothing a login,
// a wrong PIN or a key adds. Listing one directory and a stat per token per
// poll is what keeps an idle agent's CPU near zero; re-initialising each
// time cost ~3 ms a second.
type tokenStore struct {
	dir string
	// seen is the listing when the module was last initialised; it starts
	// as unlisted, so the first poll re-initialises once and catches a token
	// made between the module's C_Initialize and storeOf.
	seen string
}

// unlisted matches no listing: no file name holds a NUL.
const unlisted = "\x00"

// softHSMConfigs are where SoftHSM looks for its configuration when
// SOFTHSM2_CONF is unset: Debian's package, upstream's default prefix, and
// Homebrew on macOS.
var softHSMConfigs = []string{
	"/etc/softhsm/softhsm2.conf",
	"/etc/softhsm2.conf",
	"/usr/local/etc/softhsm2.conf",
	"/opt/homebrew/etc/softhsm/softhsm2.conf",
}

// storeOf returns the token store of a module that needs one watched, or
// nil. A SoftHSM whose configuration cannot be read gets an empty dir,
// which counts as changed at every poll: slower, but it still sees tokens
// made by other processes.
func storeOf(info ModuleInfo) *tokenStore {
	if info.Manufacturer != "SoftHSM" {
		return nil
	}
	configs := softHSMConfigs
	if c := os.Getenv("SOFTHSM2_CONF"); c != "" {
		configs = []string{c}
	}
	for _, c := range configs {
		if dir := softHSMTokenDir(c); dir != "" {
			return &tokenStore{dir: dir, seen: unlisted}
		}
	}
	return &tokenStore{}
}

// softHSMTokenDir reads directories.tokendir from a SoftHSM configuration
// file, "" when the file or the key is missing.
func softHSMTokenDir(config string) string {
	f, err := os.Open(config)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(key) == "directories.tokendir" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

// changed tells whether listing differs from the one seen at the last
// initialisation, and takes it as seen. The caller holds the module's lock
// and re-initialises when it says true.
func (s *tokenStore) changed(listing string) bool {
	if s.dir == "" {
		return true
	}
	if listing == s.seen {
		return false
	}
	s.seen = listing
	return true
}

// listing names the store's entries; an unreadable store lists as its
// error, so that it counts as changed when it becomes readable again.
func (s *tokenStore) listing() string {
	if s.dir == "" {
		return ""
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return "error: " + err.Error()
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
		if fi, err := os.Stat(filepath.Join(s.dir, e.Name(), "token.object")); err == nil {
			names[i] += " " + strconv.FormatInt(fi.Size(), 10)
		}
	}
	return strings.Join(names, "\n")
}

// goneFromStore tells whether err is how a module with fixed slots reports a
// token that another process deleted since C_Initialize: SoftHSM answers
// C_GetTokenInfo with CKR_GENERAL_ERROR for it until it is re-initialised.
// Listing treats such a slot as empty rather than failing the module.
func goneFromStore(err error) bool {
	var de *DeviceError
	return errors.As(err, &de) && de.Func == "C_GetTokenInfo" && de.Code == pkcs11.CKR_GENERAL_ERROR
}
