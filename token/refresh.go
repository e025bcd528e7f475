package token

import (
	"errors"
	"fmt"

	"github.com/miekg/pkcs11"
)

// Refresh re-initialises the modules that see token changes made by other
// processes only at C_Initialize: those whose slots are all fixed (no
// CKF_REMOVABLE_DEVICE on any slot), which is SoftHSM. Modules with
// removable slots sit on readers and see hot-plug by themselves; they are
// left alone. A module with a call in flight is skipped this time, so
// Refresh never waits for a token and never disturbs a call. It is meant to
// be called before each poll of Tokens.
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
		done, err := mod.refresh()
		switch {
		case err != nil:
			m.log.Warn("re-initialising module failed", "module", mod.path, "err", err)
		case done:
			m.log.Debug("module re-initialised", "module", mod.path)
		}
	}
}

// refresh re-initialises the module when its slots are all fixed and no call
// is using it. It tells whether it did.
func (mod *Module) refresh() (bool, error) {
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
	fixed, err := fixedSlots(mod.ctx)
	if err != nil || !fixed {
		return false, err
	}
	if err := mod.ctx.Finalize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED)) {
		return false, fmt.Errorf("finalising module %s: %w", mod.path, mapError("C_Finalize", err))
	}
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

// fixedSlots tells whether the module has slots and none of them is
// removable.
func fixedSlots(c *pkcs11.Ctx) (bool, error) {
	slots, err := c.GetSlotList(false)
	if err != nil {
		return false, mapError("C_GetSlotList", err)
	}
	if len(slots) == 0 {
		return false, nil
	}
	for _, slot := range slots {
		si, err := c.GetSlotInfo(slot)
		if err != nil {
			return false, mapError("C_GetSlotInfo", err)
		}
		if si.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0 {
			return false, nil
		}
	}
	return true, nil
}

// goneFromStore tells whether err is how a module with fixed slots reports a
// token that another process deleted since C_Initialize: SoftHSM answers
// C_GetTokenInfo with CKR_GENERAL_ERROR for it until it is re-initialised.
// Listing treats such a slot as empty rather than failing the module.
func goneFromStore(err error) bool {
	var de *DeviceError
	return errors.As(err, &de) && de.Func == "C_GetTokenInfo" && de.Code == pkcs11.CKR_GENERAL_ERROR
}
