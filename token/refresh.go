package token

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/miekg/pkcs11"
)

// Refresh re-initialises the modules that see token changes made by other
// processes only at C_Initialize, when their token store has changed since:
// that is SoftHSM, which reads its token directory only then (see
// tokenStore). It also re-initialises such a module once destroyedLimit
// objects were destroyed on it. Other modules report tokens coming and
// going by themselves and are left alone; re-initialising them would drop
// every session for nothing. A module with a call in flight is skipped this
// time, so Refresh never waits for a token and never disturbs a call. It is
// meant to be called before listing the tokens.
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
		m.log.Debug("module re-initialised", "module", mod.path)
	}
}

// destroyedLimit is how many objects may be destroyed on a module with a
// token store before it is re-initialised. SoftHSM keeps the memory of
// every object destroyed, session objects too, until C_Finalize: 20,000
// session copies of an EC-P256 key, each destroyed at once, kept 6.8 MB,
// and a sign.batch makes one copy. A variable for tests.
var destroyedLimit int64 = 1000

// countDestroyed counts one object destroyed.
func (mod *Module) countDestroyed() { mod.destroyed.Add(1) }

// retainsDestroyed tells whether the module should be re-initialised to
// free what it keeps of destroyed objects.
func (mod *Module) retainsDestroyed() bool {
	return mod.store != nil && mod.destroyed.Load() >= destroyedLimit
}

// refresh re-initialises the module when its token store changed, or it
// retains too many destroyed objects, and no call is using it. It tells
// whether it did.
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
	if mod.store == nil {
		return false, nil
	}
	// changed takes the listing as seen, so it is asked first.
	if !mod.store.changed(listing) && !mod.retainsDestroyed() {
		return false, nil
	}
	if err := mod.ctx.Finalize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)) {
		return false, fmt.Errorf("finalising module %s: %w", mod.path, mapError("C_Finalize", err))
	}
	mod.destroyed.Store(0)
	mod.forgetHandles()
	return mod.reinitialise()
}

// reinitialise calls C_Initialize; the caller holds mu for writing.
func (mod *Module) reinitialise() (bool, error) {
	err := mod.ctx.Initialize()
	if err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		err = fmt.Errorf("initialising module %s: %w", mod.path, mapError("C_Initialize", err))
		mod.setInitError(err)
		return false, err
	}
	mod.setInitError(nil)
	return true, nil
}

// forgetHandles drops the per-token state that holds session or object
// handles, which a re-initialisation invalidates.
func (mod *Module) forgetHandles() {
	mod.byToken.Lock()
	defer mod.byToken.Unlock()
	clear(mod.sessions)
	clear(mod.certs)
}

// tokenStore is SoftHSM's token directory, watched so that the module is
// re-initialised only when a token was made or deleted there. SoftHSM keeps
// each token in a subdirectory with a fresh name, and re-reads the files
// inside one (objects, PIN flags) by itself, so the list of names is what
// needs watching. Listing one directory per poll is what keeps an idle
// agent's CPU near zero; re-initialising each time cost ~3 ms a second.
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
