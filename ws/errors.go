package ws

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/tokenagent/tokenagent/agent"
)

// This file owns the protocol's errors (PROTOCOL.md section 3): the
// reasons and their codes, the reason of each kind of agent failure, and
// the data each carries.
//
// To add a kind of agent failure: give it a row in kindReasons (and, for
// a new reason, a constant and a row in codes, documented in PROTOCOL.md
// section 3), and its data fields in errorData and dataOf.
// TestEveryKindHasAReason fails until the row is there.

// reason is a protocol error reason, the part of an error clients branch on.
type reason string

// The reasons of the protocol's error table.
const (
	reasonParseError     reason = "PARSE_ERROR"
	reasonInvalidRequest reason = "INVALID_REQUEST"
	reasonMethodNotFound reason = "METHOD_NOT_FOUND"
	reasonInvalidParams  reason = "INVALID_PARAMS"
	reasonInternal       reason = "INTERNAL"
	reasonTokenNotFound  reason = "TOKEN_NOT_FOUND"
	reasonObjectNotFound reason = "OBJECT_NOT_FOUND"
	reasonKeyNotFound    reason = "KEY_NOT_FOUND"
	reasonPINIncorrect   reason = "PIN_INCORRECT"
	reasonPINLocked      reason = "PIN_LOCKED"
	reasonPINFinalTry    reason = "PIN_FINAL_TRY"
	reasonPINInvalid     reason = "PIN_INVALID"
	reasonSOPINIncorrect reason = "SO_PIN_INCORRECT"
	reasonSOPINLocked    reason = "SO_PIN_LOCKED"
	reasonMechanism      reason = "MECHANISM_UNSUPPORTED"
	reasonReadOnly       reason = "TOKEN_READ_ONLY"
	reasonPermission     reason = "PERMISSION_DENIED"
	reasonRateLimited    reason = "RATE_LIMITED"
	reasonTokenRemoved   reason = "TOKEN_REMOVED"
	reasonDeviceError    reason = "DEVICE_ERROR"
	// The consent flow's (an extension, PROTOCOL.md "Consent").
	reasonConsentDenied      reason = "CONSENT_DENIED"
	reasonConsentTimeout     reason = "CONSENT_TIMEOUT"
	reasonConsentUnavailable reason = "CONSENT_UNAVAILABLE"
)

// codes maps each reason of the protocol's error table to its JSON-RPC
// error code.
var codes = map[reason]int{
	reasonParseError:     -32700,
	reasonInvalidRequest: -32600,
	reasonMethodNotFound: -32601,
	reasonInvalidParams:  -32602,
	reasonInternal:       -32603,
	reasonTokenNotFound:  1001,
	reasonObjectNotFound: 1002,
	reasonKeyNotFound:    1003,
	reasonPINIncorrect:   1010,
	reasonPINLocked:      1011,
	reasonPINFinalTry:    1012,
	reasonPINInvalid:     1013,
	reasonSOPINIncorrect: 1014,
	reasonSOPINLocked:    1015,
	reasonMechanism:      1020,
	reasonReadOnly:       1021,
	reasonPermission:     1030,
	reasonRateLimited:    1031,
	reasonTokenRemoved:   1040,
	reasonDeviceError:    1041,

	reasonConsentDenied:      1050,
	reasonConsentTimeout:     1051,
	reasonConsentUnavailable: 1052,
}

// kindReasons maps each kind of agent failure to its reason. The audit
// log records the kind's name, which PROTOCOL.md section 5 has equal the
// reason.
var kindReasons = map[agent.Kind]reason{
	agent.Internal:             reasonInternal,
	agent.InvalidInput:         reasonInvalidParams,
	agent.TokenNotFound:        reasonTokenNotFound,
	agent.ObjectNotFound:       reasonObjectNotFound,
	agent.KeyNotFound:          reasonKeyNotFound,
	agent.PINIncorrect:         reasonPINIncorrect,
	agent.PINLocked:            reasonPINLocked,
	agent.PINFinalTry:          reasonPINFinalTry,
	agent.PINInvalid:           reasonPINInvalid,
	agent.SOPINIncorrect:       reasonSOPINIncorrect,
	agent.SOPINLocked:          reasonSOPINLocked,
	agent.MechanismUnsupported: reasonMechanism,
	agent.ReadOnly:             reasonReadOnly,
	agent.RateLimited:          reasonRateLimited,
	agent.TokenRemoved:         reasonTokenRemoved,
	agent.DeviceError:          reasonDeviceError,
	agent.PermissionDenied:     reasonPermission,
	agent.ConsentDenied:        reasonConsentDenied,
	agent.ConsentTimeout:       reasonConsentTimeout,
	agent.ConsentUnavailable:   reasonConsentUnavailable,
}

// code returns the JSON-RPC error code of r; a reason this package does
// not know is reported with INTERNAL's code.
func code(r reason) int {
	if c, ok := codes[r]; ok {
		return c
	}
	return codes[reasonInternal]
}

// wireError is an error the server answers by itself, without the agent:
// a frame that is no request, an unknown or forbidden method, a panic.
type wireError struct {
	reason reason
	msg    string
}

func (e *wireError) Error() string { return e.msg }

func wireErrorf(r reason, format string, args ...any) *wireError {
	return &wireError{reason: r, msg: fmt.Sprintf(format, args...)}
}

// paramsError is an INVALID_PARAMS error found while reading params,
// before the agent was asked anything; index is set when it is about an
// item of sign.batch.
type paramsError struct {
	msg   string
	index *int
}

func (e *paramsError) Error() string { return e.msg }

// invalid is a paramsError.
func invalid(format string, args ...any) error {
	return &paramsError{msg: "invalid params: " + fmt.Sprintf(format, args...)}
}

// errorObject is a JSON-RPC error object.
type errorObject struct {
	Code    int       `json:"code"`
	Message string    `json:"message"`
	Data    errorData `json:"data"`
}

// errorData is an error's data member: the reason, and the fields its kind
// carries. The fields are in alphabetical order, as the members always
// were on the wire.
type errorData struct {
	Confirmable       *bool  `json:"confirmable,omitempty"`
	CountLow          *bool  `json:"countLow,omitempty"`
	FinalTry          *bool  `json:"finalTry,omitempty"`
	Index             *int   `json:"index,omitempty"`
	MaxLen            *int   `json:"maxLen,omitempty"`
	MinLen            *int   `json:"minLen,omitempty"`
	Reason            string `json:"reason"`
	RetryAfterSeconds *int   `json:"retryAfterSeconds,omitempty"`
}

// dataOf returns the data fields of an agent error's details.
func dataOf(e *agent.Error) errorData {
	var d errorData
	if t := e.Tries; t != nil {
		d.CountLow, d.FinalTry = &t.CountLow, &t.FinalTry
	}
	if l := e.Length; l != nil {
		d.MinLen, d.MaxLen = &l.Min, &l.Max
	}
	if e.Kind == agent.PINFinalTry {
		d.Confirmable = &e.FinalTryConfirmable
	}
	if e.Kind == agent.RateLimited {
		s := int(math.Ceil(e.RetryAfter.Seconds()))
		d.RetryAfterSeconds = &s
	}
	d.Index = e.Item
	return d
}

// errorFor builds the error object for err: the code of its reason, its
// message, and data with the reason and the error's fields. An error that
// is none of the server's nor the agent's is INTERNAL with err's text.
func errorFor(err error) errorObject {
	var (
		pe *paramsError
		we *wireError
		ae *agent.Error
	)
	var r reason
	var data errorData
	msg := err.Error()
	switch {
	case errors.As(err, &pe):
		r, msg, data.Index = reasonInvalidParams, pe.msg, pe.index
	case errors.As(err, &we):
		r, msg = we.reason, we.msg
	case errors.As(err, &ae):
		data = dataOf(ae)
		r, msg = kindReasons[ae.Kind], ae.Message
	}
	if r == "" {
		r = reasonInternal
	}
	data.Reason = string(r)
	msg = shortMessage(msg)
	if msg == "" {
		msg = string(r)
	}
	return errorObject{Code: code(r), Message: msg, Data: data}
}

// maxMessageBytes bounds an error message: messages quote what was sent (a
// method name, a token id), and a page sending megabytes should not get
// them back in every error.
const maxMessageBytes = 1024

// shortMessage cuts msg to maxMessageBytes at a character boundary and
// marks the cut.
func shortMessage(msg string) string {
	if len(msg) <= maxMessageBytes {
		return msg
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}
