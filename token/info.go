package token

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/miekg/pkcs11"
)

// TokenInfo describes a token present in a slot.
type TokenInfo struct {
	ID           string // stable: see TokenID
	Label        string
	Manufacturer string
	Model        string
	Serial       string
	Module       string // module path
	Slot         uint
	// SlotDescription and SlotManufacturer come from C_GetSlotInfo; readers
	// are matched against them.
	SlotDescription  string
	SlotManufacturer string
	PIN              PINState
	ReadOnly         bool
	// Software is set when the slot is neither a hardware slot nor a
	// removable device (SoftHSM's): the token is a program in this
	// process, and Session.Batch may use several sessions and session
	// objects on it.
	Software bool
}

// PINState is the PIN part of a token's flags and its PIN length rules.
type PINState struct {
	Initialized   bool // CKF_USER_PIN_INITIALIZED
	LoginRequired bool // CKF_LOGIN_REQUIRED
	Locked        bool // CKF_USER_PIN_LOCKED
	CountLow      bool // CKF_USER_PIN_COUNT_LOW
	FinalTry      bool // CKF_USER_PIN_FINAL_TRY
	SOLocked      bool // CKF_SO_PIN_LOCKED
	SOCountLow    bool // CKF_SO_PIN_COUNT_LOW
	SOFinalTry    bool // CKF_SO_PIN_FINAL_TRY
	MinLen        int
	MaxLen        int
}

// TokenID derives a token's id from what identifies it physically. Slot
// numbers are left out on purpose: modules renumber slots.
func TokenID(module, manufacturer, model, serial string) string {
	h := sha256.New()
	for _, s := range []string{module, manufacturer, model, serial} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// pinState maps token flags and PIN lengths to a PINState.
func pinState(flags, minLen, maxLen uint) PINState {
	has := func(f uint) bool { return flags&f != 0 }
	return PINState{
		Initialized:   has(pkcs11.CKF_USER_PIN_INITIALIZED),
		LoginRequired: has(pkcs11.CKF_LOGIN_REQUIRED),
		Locked:        has(pkcs11.CKF_USER_PIN_LOCKED),
		CountLow:      has(pkcs11.CKF_USER_PIN_COUNT_LOW),
		FinalTry:      has(pkcs11.CKF_USER_PIN_FINAL_TRY),
		SOLocked:      has(pkcs11.CKF_SO_PIN_LOCKED),
		SOCountLow:    has(pkcs11.CKF_SO_PIN_COUNT_LOW),
		SOFinalTry:    has(pkcs11.CKF_SO_PIN_FINAL_TRY),
		MinLen:        pinLen(minLen),
		MaxLen:        pinLen(maxLen),
	}
}

// pinLen converts a PIN length field. CK_EFFECTIVELY_INFINITE (0) and
// CK_UNAVAILABLE_INFORMATION (all ones) are both reported as 0: unknown.
func pinLen(n uint) int {
	if n == ^uint(0) || n > 1<<16 {
		return 0
	}
	return int(n)
}

func tokenInfo(module string, slot uint, si pkcs11.SlotInfo, ti pkcs11.TokenInfo) TokenInfo {
	return TokenInfo{
		ID:               TokenID(module, ti.ManufacturerID, ti.Model, ti.SerialNumber),
		Label:            ti.Label,
		Manufacturer:     ti.ManufacturerID,
		Model:            ti.Model,
		Serial:           ti.SerialNumber,
		Module:           module,
		Slot:             slot,
		SlotDescription:  si.SlotDescription,
		SlotManufacturer: si.ManufacturerID,
		PIN:              pinState(ti.Flags, ti.MinPinLen, ti.MaxPinLen),
		ReadOnly:         ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0,
		Software:         si.Flags&(pkcs11.CKF_HW_SLOT|pkcs11.CKF_REMOVABLE_DEVICE) == 0,
	}
}
