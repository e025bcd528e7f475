package agent

import (
	"errors"
	"fmt"

	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// Reason is a protocol error reason, the part of an error clients branch on.
type Reason string

// The reasons of the protocol's error table.
const (
	ReasonParseError     Reason = "PARSE_ERROR"
	ReasonInvalidRequest Reason = "INVALID_REQUEST"
	ReasonMethodNotFound Reason = "METHOD_NOT_FOUND"
	ReasonInvalidParams  Reason = "INVALID_PARAMS"
	ReasonInternal       Reason = "INTERNAL"
	ReasonTokenNotFound  Reason = "TOKEN_NOT_FOUND"
	ReasonObjectNotFound Reason = "OBJECT_NOT_FOUND"
	ReasonKeyNotFound    Reason = "KEY_NOT_FOUND"
	ReasonPINIncorrect   Reason = "PIN_INCORRECT"
	ReasonPINLocked      Reason = "PIN_LOCKED"
	ReasonPINFinalTry    Reason = "PIN_FINAL_TRY"
	ReasonPINInvalid     Reason = "PIN_INVALID"
	ReasonSOPINIncorrect Reason = "SO_PIN_INCORRECT"
	ReasonSOPINLocked    Reason = "SO_PIN_LOCKED"
	ReasonMechanism      Reason = "MECHANISM_UNSUPPORTED"
	ReasonReadOnly       Reason = "TOKEN_READ_ONLY"
	ReasonPermission     Reason = "PERMISSION_DENIED"
	ReasonRateLimited    Reason = "RATE_LIMITED"
	ReasonTokenRemoved   Reason = "TOKEN_REMOVED"
	ReasonDeviceError    Reason = "DEVICE_ERROR"
)

// Error is how every Agent method fails.
type Error struct {
	Reason  Reason
	Message string         // for people; never holds a PIN
	Data    map[string]any // protocol data fields besides the reason, e.g. "countLow"
	err     error
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.err }

// Errorf returns an *Error with the given reason and a formatted message.
func Errorf(reason Reason, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Reason: reason, Message: err.Error(), err: errors.Unwrap(err)}
}

// classify maps any error of a call to an *Error with the protocol reason.
func classify(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var pe *token.PINError
	if errors.As(err, &pe) {
		return pinError(pe)
	}
	reason := ReasonInternal
	switch {
	case errors.Is(err, token.ErrObjectNotFound):
		reason = ReasonObjectNotFound
	case errors.Is(err, token.ErrKeyNotFound):
		reason = ReasonKeyNotFound
	case errors.Is(err, token.ErrReadOnly):
		reason = ReasonReadOnly
	case errors.Is(err, token.ErrMechanismUnsupported), errors.Is(err, signer.ErrUnsupported):
		reason = ReasonMechanism
	case errors.Is(err, token.ErrUnsupportedAlgorithm):
		reason = ReasonInvalidParams
	case errors.Is(err, token.ErrTokenNotFound):
		reason = ReasonTokenNotFound
	case errors.Is(err, token.ErrTokenRemoved):
		reason = ReasonTokenRemoved
	case errors.As(err, new(*token.DeviceError)):
		reason = ReasonDeviceError
	}
	return &Error{Reason: reason, Message: err.Error(), err: err}
}

// pinError maps a token PIN error to its protocol reason and data.
func pinError(pe *token.PINError) *Error {
	st := pe.State
	countLow, finalTry := st.CountLow, st.FinalTry
	if pe.SO {
		countLow, finalTry = st.SOCountLow, st.SOFinalTry
	}
	e := &Error{Message: pe.Error(), err: pe}
	switch pe.Problem {
	case token.PINIncorrect:
		e.Reason = ReasonPINIncorrect
		if pe.SO {
			e.Reason = ReasonSOPINIncorrect
		}
		e.Data = map[string]any{"countLow": countLow, "finalTry": finalTry}
	case token.PINLocked:
		e.Reason = ReasonPINLocked
		if pe.SO {
			e.Reason = ReasonSOPINLocked
		}
	case token.PINFinalTry:
		e.Reason = ReasonPINFinalTry
		e.Message = "the token has one PIN try left; repeat the request with confirmFinalTry to use it"
	case token.PINInvalid:
		e.Reason = ReasonPINInvalid
		e.Data = map[string]any{"minLen": st.MinLen, "maxLen": st.MaxLen}
	}
	return e
}
