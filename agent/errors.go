package agent

import (
	"errors"
	"fmt"
	"time"

	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

// Kind is what kind of failure ended a use case: the part of an error
// callers branch on. The ws package answers each kind with its protocol
// reason, code and data (ws/errors.go); the audit log records its name.
//
// To add a kind: add the constant before kindCount with its name in
// kindNames, return it from the use case (or from classify, for a token
// error) with its details as fields of Error, and give it its reason and
// code in ws/errors.go, where a test fails for a kind without one.
type Kind uint8

// The kinds of failure.
const (
	Internal             Kind = iota // anything unexpected
	InvalidInput                     // the request cannot be carried out as asked: a value missing, out of range or in conflict
	TokenNotFound                    // no token with that id
	ObjectNotFound                   // no certificate or key with that id on the token
	KeyNotFound                      // no private key on the token matches the certificate
	PINIncorrect                     // a wrong user PIN; Error.Tries says what the token told
	PINLocked                        // the user PIN is blocked
	PINFinalTry                      // not tried: one try is left and the call did not confirm using it; Error.FinalTryConfirmable says whether it may
	PINInvalid                       // the new PIN breaks the token's rules; Error.Length gives them
	SOPINIncorrect                   // a wrong SO PIN; Error.Tries says what the token told
	SOPINLocked                      // the SO PIN is blocked
	MechanismUnsupported             // the token cannot do the algorithm or padding asked for
	ReadOnly                         // the token refuses writes
	RateLimited                      // too many wrong PINs from this origin; Error.RetryAfter says how long to wait
	TokenRemoved                     // the token went away during the call
	DeviceError                      // the module or the reader failed
	PermissionDenied                 // the origin may not make the call as it came (a PIN sent where the person must type it on the consent page)
	ConsentDenied                    // the person said no on the consent page, or closed it
	ConsentTimeout                   // the person did not answer on the consent page in time
	ConsentUnavailable               // no consent page showed the call
	kindCount
)

// kindNames are the kinds' names, which the audit log records as a call's
// outcome; PROTOCOL.md section 5 has them equal the protocol's reasons.
var kindNames = [kindCount]string{
	Internal:             "INTERNAL",
	InvalidInput:         "INVALID_PARAMS",
	TokenNotFound:        "TOKEN_NOT_FOUND",
	ObjectNotFound:       "OBJECT_NOT_FOUND",
	KeyNotFound:          "KEY_NOT_FOUND",
	PINIncorrect:         "PIN_INCORRECT",
	PINLocked:            "PIN_LOCKED",
	PINFinalTry:          "PIN_FINAL_TRY",
	PINInvalid:           "PIN_INVALID",
	SOPINIncorrect:       "SO_PIN_INCORRECT",
	SOPINLocked:          "SO_PIN_LOCKED",
	MechanismUnsupported: "MECHANISM_UNSUPPORTED",
	ReadOnly:             "TOKEN_READ_ONLY",
	RateLimited:          "RATE_LIMITED",
	TokenRemoved:         "TOKEN_REMOVED",
	DeviceError:          "DEVICE_ERROR",
	PermissionDenied:     "PERMISSION_DENIED",
	ConsentDenied:        "CONSENT_DENIED",
	ConsentTimeout:       "CONSENT_TIMEOUT",
	ConsentUnavailable:   "CONSENT_UNAVAILABLE",
}

// String returns the kind's name in the audit log.
func (k Kind) String() string {
	if k < kindCount {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Kinds returns every kind, for callers that map each one.
func Kinds() []Kind {
	ks := make([]Kind, kindCount)
	for i := range ks {
		ks[i] = Kind(i)
	}
	return ks
}

// Error is how every Agent method fails. Which detail fields are set
// depends on the kind.
type Error struct {
	Kind    Kind
	Message string // for people; never holds a PIN

	Tries      *PINTries     // PINIncorrect, SOPINIncorrect
	Length     *PINLength    // PINInvalid
	RetryAfter time.Duration // RateLimited
	Item       *int          // InvalidInput about one item of a SignBatch, by index
	// PINFinalTry: whether the same call with ConfirmFinalTry would try
	// the PIN (false for a web page's calls, which may not spend it).
	FinalTryConfirmable bool

	err error
}

// PINTries is what a token's flags say after a wrong PIN.
type PINTries struct {
	CountLow bool // a wrong try has been counted
	FinalTry bool // one try is left
}

// PINLength is a token's rule for the length of a PIN.
type PINLength struct {
	Min, Max int
}

func (e *Error) Error() string { return e.Message }

func (e *Error) Unwrap() error { return e.err }

// Errorf returns an *Error of the given kind with a formatted message.
func Errorf(kind Kind, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Message: err.Error(), err: errors.Unwrap(err)}
}

// classify maps any error of a call to an *Error of its kind.
func classify(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var pe *token.PINError
	if errors.As(err, &pe) {
		return pinError(pe)
	}
	kind := Internal
	switch {
	case errors.Is(err, token.ErrObjectNotFound):
		kind = ObjectNotFound
	case errors.Is(err, token.ErrKeyNotFound):
		kind = KeyNotFound
	case errors.Is(err, token.ErrReadOnly):
		kind = ReadOnly
	case errors.Is(err, token.ErrMechanismUnsupported), errors.Is(err, signer.ErrUnsupported):
		kind = MechanismUnsupported
	case errors.Is(err, token.ErrUnsupportedAlgorithm):
		kind = InvalidInput
	case errors.Is(err, token.ErrTokenNotFound):
		kind = TokenNotFound
	case errors.Is(err, token.ErrTokenRemoved):
		kind = TokenRemoved
	case errors.As(err, new(*token.DeviceError)):
		kind = DeviceError
	}
	return &Error{Kind: kind, Message: err.Error(), err: err}
}

// pinError maps a token PIN error to its kind and details.
func pinError(pe *token.PINError) *Error {
	st := pe.State
	tries := &PINTries{CountLow: st.CountLow, FinalTry: st.FinalTry}
	if pe.SO {
		tries = &PINTries{CountLow: st.SOCountLow, FinalTry: st.SOFinalTry}
	}
	e := &Error{Message: pe.Error(), err: pe}
	switch pe.Problem {
	case token.PINIncorrect:
		e.Kind, e.Tries = PINIncorrect, tries
		if pe.SO {
			e.Kind = SOPINIncorrect
		}
	case token.PINLocked:
		e.Kind = PINLocked
		if pe.SO {
			e.Kind = SOPINLocked
		}
	case token.PINFinalTry:
		e.Kind = PINFinalTry
		e.Message = "the token has one PIN try left; repeat the request with confirmFinalTry to use it"
	case token.PINInvalid:
		e.Kind, e.Length = PINInvalid, &PINLength{Min: st.MinLen, Max: st.MaxLen}
	}
	return e
}
