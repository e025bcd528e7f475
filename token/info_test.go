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
		ti := tokenInfo("/m.so", 3, pkcs11.SlotInfo{}, pkcs11.TokenInfo{Flags: flags})
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
