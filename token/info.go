package token

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/miekg/pkcs11"
)

// TokenInfo describes a token present in a slot.
type TokenInfo struct {
	ID           string // stable and unique: see the package doc's Identity
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

	// identity is what the id was derived from (see identify).
	identity identity
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
	// ProtectedAuthPath (CKF_PROTECTED_AUTHENTICATION_PATH): the PIN is
	// entered on the reader's PIN pad, and PINs sent by callers are not
	// used.
	ProtectedAuthPath bool
	MinLen            int
	MaxLen            int
}

// TokenID derives the id of a token with a serial number of its own from
// what identifies it physically. Slot numbers are left out on purpose:
// modules renumber slots. See identify for the tokens this does not tell
// apart.
func TokenID(module, manufacturer, model, serial string) string {
	return hashID(module, manufacturer, model, serial)
}

func hashID(parts ...string) string {
	h := sha256.New()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// identity is how much of a token goes into its id, from least to most.
type identity int

const (
	bySerial identity = iota // module, manufacturer, model, serial: TokenID
	byLabel                  // and the label
	bySlot                   // and the label and the slot number
)

// id is the token's id with the given identity.
func (ti *TokenInfo) id(level identity) string {
	switch level {
	case bySerial:
		return TokenID(ti.Module, ti.Manufacturer, ti.Model, ti.Serial)
	case byLabel:
		return hashID(ti.Module, ti.Manufacturer, ti.Model, ti.Serial, ti.Label)
	}
	return hashID(ti.Module, ti.Manufacturer, ti.Model, ti.Serial, ti.Label, strconv.FormatUint(uint64(ti.Slot), 10))
}

// identify gives the tokens listed from one module their ids. A token's id
// comes from its serial number when it has one of its own; a serial that
// says nothing (empty, or all zeros as tpm2-pkcs11 gives every token of a
// TPM) brings in the label. Tokens that would still share an id, all of
// them, bring in the label and then, as a last resort, the slot number:
// so no id ever names two tokens, and ids stay the same from listing to
// listing and across restarts while the same tokens are present.
func identify(tokens []TokenInfo) {
	for i := range tokens {
		if strings.Trim(tokens[i].Serial, "0") == "" {
			tokens[i].identity = byLabel
		}
	}
	for level := byLabel; level <= bySlot; level++ {
		count := map[string]int{}
		for i := range tokens {
			count[tokens[i].id(tokens[i].identity)]++
		}
		for i := range tokens {
			if count[tokens[i].id(tokens[i].identity)] > 1 && tokens[i].identity < level {
				tokens[i].identity = level
			}
		}
	}
	for i := range tokens {
		tokens[i].ID = tokens[i].id(tokens[i].identity)
	}
}

// padded returns a fixed-size string field from a module as its text:
// cut at the first NUL and trimmed of the blank padding PKCS#11 asks for
// (some modules pad with NULs instead: tpm2-pkcs11's model is
// "SW   TPM\x00\x00…").
func padded(s string) string {
	s, _, _ = strings.Cut(s, "\x00")
	return strings.TrimRight(s, " ")
}

// pinState maps token flags and PIN lengths to a PINState.
func pinState(flags, minLen, maxLen uint) PINState {
	has := func(f uint) bool { return flags&f != 0 }
	return PINState{
		Initialized:       has(pkcs11.CKF_USER_PIN_INITIALIZED),
		LoginRequired:     has(pkcs11.CKF_LOGIN_REQUIRED),
		Locked:            has(pkcs11.CKF_USER_PIN_LOCKED),
		CountLow:          has(pkcs11.CKF_USER_PIN_COUNT_LOW),
		FinalTry:          has(pkcs11.CKF_USER_PIN_FINAL_TRY),
		SOLocked:          has(pkcs11.CKF_SO_PIN_LOCKED),
		SOCountLow:        has(pkcs11.CKF_SO_PIN_COUNT_LOW),
		SOFinalTry:        has(pkcs11.CKF_SO_PIN_FINAL_TRY),
		ProtectedAuthPath: has(pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH),
		MinLen:            pinLen(minLen),
		MaxLen:            pinLen(maxLen),
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

// tokenInfo is a token as C_GetTokenInfo describes it, in the slot si
// describes; its id is set by identify.
func tokenInfo(module string, slot uint, si slotNames, ti pkcs11.TokenInfo) TokenInfo {
	return TokenInfo{
		Label:            padded(ti.Label),
		Manufacturer:     padded(ti.ManufacturerID),
		Model:            padded(ti.Model),
		Serial:           padded(ti.SerialNumber),
		Module:           module,
		Slot:             slot,
		SlotDescription:  si.description,
		SlotManufacturer: si.manufacturer,
		PIN:              pinState(ti.Flags, ti.MinPinLen, ti.MaxPinLen),
		ReadOnly:         ti.Flags&pkcs11.CKF_WRITE_PROTECTED != 0,
	}
}

// slotNames are the strings of C_GetSlotInfo.
type slotNames struct{ description, manufacturer string }
