package token

import (
	"errors"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestPINState(t *testing.T) {
	tests := []struct {
		name           string
		flags          uint
		minLen, maxLen uint
		want           PINState
	}{
		{"fresh token", pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_LOGIN_REQUIRED | pkcs11.CKF_TOKEN_INITIALIZED, 4, 255,
			PINState{Initialized: true, LoginRequired: true, MinLen: 4, MaxLen: 255}},
		{"count low", pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_USER_PIN_COUNT_LOW, 4, 8,
			PINState{Initialized: true, CountLow: true, MinLen: 4, MaxLen: 8}},
		{"final try", pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_COUNT_LOW, 6, 16,
			PINState{CountLow: true, FinalTry: true, MinLen: 6, MaxLen: 16}},
		{"locked", pkcs11.CKF_USER_PIN_LOCKED, 4, 255, PINState{Locked: true, MinLen: 4, MaxLen: 255}},
		{"SO flags", pkcs11.CKF_SO_PIN_LOCKED | pkcs11.CKF_SO_PIN_COUNT_LOW | pkcs11.CKF_SO_PIN_FINAL_TRY, 4, 255,
			PINState{SOLocked: true, SOCountLow: true, SOFinalTry: true, MinLen: 4, MaxLen: 255}},
		{"unavailable lengths", 0, ^uint(0), ^uint(0), PINState{}},
		{"PIN pad", pkcs11.CKF_PROTECTED_AUTHENTICATION_PATH | pkcs11.CKF_LOGIN_REQUIRED, 4, 8,
			PINState{LoginRequired: true, ProtectedAuthPath: true, MinLen: 4, MaxLen: 8}},
		{"user and SO flags do not mix", pkcs11.CKF_USER_PIN_LOCKED | pkcs11.CKF_SO_PIN_FINAL_TRY, 0, 0,
			PINState{Locked: true, SOFinalTry: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pinState(tt.flags, tt.minLen, tt.maxLen); got != tt.want {
				t.Errorf("pinState(%#x) = %+v, want %+v", tt.flags, got, tt.want)
			}
		})
	}
}

func TestTokenInfoReadOnly(t *testing.T) {
	for _, flags := range []uint{0, pkcs11.CKF_WRITE_PROTECTED} {
		ti := tokenInfo("/m.so", 3, slotNames{}, pkcs11.TokenInfo{Flags: flags})
		if want := flags != 0; ti.ReadOnly != want {
			t.Errorf("flags %#x: ReadOnly = %v, want %v", flags, ti.ReadOnly, want)
		}
	}
}

func TestTokenID(t *testing.T) {
	base := TokenID("/usr/lib/m.so", "Maker", "Model", "0001")
	if len(base) != 32 {
		t.Fatalf("id %q: want 32 hex digits", base)
	}
	if again := TokenID("/usr/lib/m.so", "Maker", "Model", "0001"); again != base {
		t.Errorf("id not stable: %q then %q", base, again)
	}
	for _, other := range []string{
		TokenID("/usr/lib/other.so", "Maker", "Model", "0001"),
		TokenID("/usr/lib/m.so", "Maker2", "Model", "0001"),
		TokenID("/usr/lib/m.so", "Maker", "Model2", "0001"),
		TokenID("/usr/lib/m.so", "Maker", "Model", "0002"),
		// The separator keeps field boundaries: "ab"+"c" is not "a"+"bc".
		TokenID("/usr/lib/m.so", "Make", "rModel", "0001"),
	} {
		if other == base {
			t.Errorf("different tokens share id %q", base)
		}
	}
}

// TestPadding checks that fixed-size fields lose their padding, of blanks
// as PKCS#11 asks or of NULs as tpm2-pkcs11 gives its model.
func TestPadding(t *testing.T) {
	ti := tokenInfo("/m.so", 1, slotNames{}, pkcs11.TokenInfo{
		Label: "interop", ManufacturerID: "IBM", Model: "SW   TPM\x00\x00\x00\x00\x00\x00\x00\x00",
		SerialNumber: "0000000000000000",
	})
	if ti.Model != "SW   TPM" || ti.Label != "interop" {
		t.Errorf("model %q, label %q; want %q and %q", ti.Model, ti.Label, "SW   TPM", "interop")
	}
	for in, want := range map[string]string{"abc   ": "abc", "abc\x00  \x00x": "abc", "  a b  ": "  a b", "": ""} {
		if got := padded(in); got != want {
			t.Errorf("padded(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestIdentify checks that tokens one module lists get ids no two of them
// share, from their serial numbers where those tell them apart.
func TestIdentify(t *testing.T) {
	tok := func(label, serial string, slot uint) TokenInfo {
		return TokenInfo{Module: "/m.so", Manufacturer: "IBM", Model: "SW   TPM", Serial: serial, Label: label, Slot: slot}
	}
	tests := []struct {
		name   string
		tokens []TokenInfo
		want   []identity
	}{
		{"own serials", []TokenInfo{tok("a", "0001", 1), tok("b", "0002", 2)}, []identity{bySerial, bySerial}},
		// tpm2-pkcs11 gives every token of a TPM the same zero serial.
		{"zero serials", []TokenInfo{tok("interop", "0000000000000000", 1), tok("second", "0000000000000000", 2)}, []identity{byLabel, byLabel}},
		{"zero serial alone", []TokenInfo{tok("interop", "0000000000000000", 1)}, []identity{byLabel}},
		{"empty serial", []TokenInfo{tok("x", "", 1)}, []identity{byLabel}},
		// A vendor repeating a serial: both twins, and only they, change.
		{"repeated serial", []TokenInfo{tok("a", "42", 1), tok("b", "42", 2), tok("c", "43", 3)}, []identity{byLabel, byLabel, bySerial}},
		{"repeated serial and label", []TokenInfo{tok("a", "42", 1), tok("a", "42", 2)}, []identity{bySlot, bySlot}},
		{"zero serial, repeated label", []TokenInfo{tok("a", "0", 7), tok("a", "0", 9), tok("b", "0", 8)}, []identity{bySlot, bySlot, byLabel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			identify(tt.tokens)
			ids := map[string]bool{}
			for i, ti := range tt.tokens {
				if ti.identity != tt.want[i] {
					t.Errorf("token %d (%s): identity %d, want %d", i, ti.Label, ti.identity, tt.want[i])
				}
				if ti.ID != ti.id(ti.identity) || len(ti.ID) != 32 {
					t.Errorf("token %d: id %q is not its identity's", i, ti.ID)
				}
				if ids[ti.ID] {
					t.Errorf("id %s given twice", ti.ID)
				}
				ids[ti.ID] = true
			}
		})
	}
	// A token with a serial of its own keeps the id it always had.
	own := []TokenInfo{tok("a", "0001", 1)}
	identify(own)
	if own[0].ID != TokenID("/m.so", "IBM", "SW   TPM", "0001") {
		t.Errorf("id %s, want TokenID's", own[0].ID)
	}
}

func TestCheckPIN(t *testing.T) {
	rules := PINState{MinLen: 4, MaxLen: 8}
	tests := []struct {
		name string
		st   PINState
		pin  string
		so   bool
		ok   bool
	}{
		{"within", rules, "1234", false, true},
		{"too short", rules, "123", false, false},
		{"too long", rules, "123456789", false, false},
		{"empty", rules, "", false, false},
		{"no rules", PINState{}, "1", false, true},
		{"no rules, empty", PINState{}, "", false, false},
		// The length rules are the user PIN's.
		{"SO PIN longer than the user's rules", rules, "1234567890", true, true},
		{"SO PIN empty", rules, "", true, false},
		{"PIN pad: nothing to check", PINState{ProtectedAuthPath: true, MinLen: 4}, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPIN(tt.st, tt.pin, tt.so)
			var pe *PINError
			if tt.ok != (err == nil) || (err != nil && (!errors.As(err, &pe) || pe.Problem != PINInvalid || pe.SO != tt.so)) {
				t.Errorf("checkPIN(%q) = %v, want ok %v", tt.pin, err, tt.ok)
			}
		})
	}
}

func TestBackendGone(t *testing.T) {
	for code, want := range map[pkcs11.Error]bool{
		pkcs11.CKR_GENERAL_ERROR: true, pkcs11.CKR_DEVICE_ERROR: true, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED: true,
		pkcs11.CKR_PIN_INCORRECT: false, pkcs11.CKR_DEVICE_REMOVED: false, pkcs11.CKR_MECHANISM_INVALID: false,
	} {
		if got := backendGone(mapError("C_Login", code)); got != want {
			t.Errorf("backendGone(%s) = %v, want %v", CodeName(code), got, want)
		}
	}
	if backendGone(errors.New("not a code")) {
		t.Error("backendGone of a plain error")
	}
}

func TestObjectIDs(t *testing.T) {
	tests := []struct {
		name   string
		ckaIDs [][]byte
		want   []string
	}{
		{"unique", [][]byte{{0x01, 0xa2}, {0x02}}, []string{"01a2", "02"}},
		{"shared", [][]byte{{0x01}, {0x01}, {0x01}, {0x02}}, []string{"01", "01~1", "01~2", "02"}},
		{"empty", [][]byte{nil, {}, {0xff}}, []string{"~0", "~1", "ff"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := objectIDs(tt.ckaIDs)
			if len(got) != len(tt.want) {
				t.Fatalf("objectIDs = %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("objectIDs = %q, want %q", got, tt.want)
					break
				}
			}
		})
	}
}

func TestMapError(t *testing.T) {
	tests := []struct {
		code        pkcs11.Error
		wantRemoved bool
		wantText    string
	}{
		{pkcs11.CKR_DEVICE_REMOVED, true, "C_Sign: CKR_DEVICE_REMOVED: token removed"},
		{pkcs11.CKR_TOKEN_NOT_PRESENT, true, "C_Sign: CKR_TOKEN_NOT_PRESENT: token removed"},
		{pkcs11.CKR_SESSION_CLOSED, true, "C_Sign: CKR_SESSION_CLOSED: token removed"},
		{pkcs11.CKR_DEVICE_ERROR, false, "C_Sign: CKR_DEVICE_ERROR"},
		{pkcs11.CKR_GENERAL_ERROR, false, "C_Sign: CKR_GENERAL_ERROR"},
		{pkcs11.Error(0x80000001), false, "C_Sign: 0x80000001"},
	}
	for _, tt := range tests {
		err := mapError("C_Sign", tt.code)
		if got := errors.Is(err, ErrTokenRemoved); got != tt.wantRemoved {
			t.Errorf("%v: removed = %v, want %v", tt.code, got, tt.wantRemoved)
		}
		var de *DeviceError
		if got := errors.As(err, &de); got == tt.wantRemoved {
			t.Errorf("%v: DeviceError = %v, want %v", tt.code, got, !tt.wantRemoved)
		}
		var raw pkcs11.Error
		if !tt.wantRemoved && (!errors.As(err, &raw) || raw != tt.code) {
			t.Errorf("%v: does not unwrap to the raw code", tt.code)
		}
		if err.Error() != tt.wantText {
			t.Errorf("%v: message %q, want %q", tt.code, err.Error(), tt.wantText)
		}
	}
	if mapError("C_Sign", nil) != nil {
		t.Error("mapError(nil) != nil")
	}
}
