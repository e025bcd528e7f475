package token

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

var (
	// ErrTokenNotFound means no token with the given id is present.
	ErrTokenNotFound = errors.New("token not found")
	// ErrTokenRemoved means the token went away during the call.
	ErrTokenRemoved = errors.New("token removed")
	// ErrClosed means the module or manager was closed.
	ErrClosed = errors.New("module closed")
	// ErrReadOnly means the token refuses writes.
	ErrReadOnly = errors.New("token is write-protected")
)

// DeviceError is a failure reported by a PKCS#11 module that callers do not
// branch on further. It unwraps to the raw pkcs11.Error.
type DeviceError struct {
	Func string // the PKCS#11 function, e.g. "C_GetTokenInfo"
	Code pkcs11.Error
}

func (e *DeviceError) Error() string {
	return fmt.Sprintf("%s: %s", e.Func, CodeName(e.Code))
}

func (e *DeviceError) Unwrap() error { return e.Code }

// CodeName returns the CKR_ name of a PKCS#11 return code, or its hex value
// when the code is unknown (vendor-defined codes are).
func CodeName(code pkcs11.Error) string {
	// pkcs11.Error formats as "pkcs11: 0x32: CKR_DEVICE_REMOVED"; its name
	// table is unexported, so take the name from there.
	s := code.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && len(s) > i+2 {
		return s[i+2:]
	}
	return fmt.Sprintf("0x%X", uint(code))
}

// removedCodes are the return codes meaning the token is no longer there.
var removedCodes = map[pkcs11.Error]bool{
	pkcs11.CKR_DEVICE_REMOVED:       true,
	pkcs11.CKR_TOKEN_NOT_PRESENT:    true,
	pkcs11.CKR_TOKEN_NOT_RECOGNIZED: true,
	pkcs11.CKR_SLOT_ID_INVALID:      true,
	pkcs11.CKR_SESSION_CLOSED:       true,
}

// mapError turns an error from PKCS#11 function fn into one of this package's
// errors. Errors that are not PKCS#11 return codes pass through.
func mapError(fn string, err error) error {
	if err == nil {
		return nil
	}
	var code pkcs11.Error
	if !errors.As(err, &code) {
		return err
	}
	switch {
	case removedCodes[code]:
		return fmt.Errorf("%s: %s: %w", fn, CodeName(code), ErrTokenRemoved)
	case code == pkcs11.CKR_TOKEN_WRITE_PROTECTED, code == pkcs11.CKR_SESSION_READ_ONLY, code == pkcs11.CKR_SESSION_READ_ONLY_EXISTS:
		return fmt.Errorf("%s: %s: %w", fn, CodeName(code), ErrReadOnly)
	}
	return &DeviceError{Func: fn, Code: code}
}
