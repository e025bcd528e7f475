package agent

import (
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

func TestClassify(t *testing.T) {
	st := token.PINState{CountLow: true, SOFinalTry: true, MinLen: 4, MaxLen: 8}
	tests := []struct {
		err    error
		reason Reason
		data   map[string]any
	}{
		{&token.PINError{Problem: token.PINIncorrect, State: st}, ReasonPINIncorrect, map[string]any{"countLow": true, "finalTry": false}},
		{&token.PINError{Problem: token.PINIncorrect, SO: true, State: st}, ReasonSOPINIncorrect, map[string]any{"countLow": false, "finalTry": true}},
		{&token.PINError{Problem: token.PINLocked}, ReasonPINLocked, nil},
		{&token.PINError{Problem: token.PINLocked, SO: true}, ReasonSOPINLocked, nil},
		{&token.PINError{Problem: token.PINFinalTry}, ReasonPINFinalTry, nil},
		{&token.PINError{Problem: token.PINFinalTry, SO: true}, ReasonPINFinalTry, nil},
		{&token.PINError{Problem: token.PINInvalid, State: st}, ReasonPINInvalid, map[string]any{"minLen": 4, "maxLen": 8}},
		{fmt.Errorf("x: %w", token.ErrTokenNotFound), ReasonTokenNotFound, nil},
		{fmt.Errorf("x: %w", token.ErrTokenRemoved), ReasonTokenRemoved, nil},
		{fmt.Errorf("x: %w", &token.DeviceError{Func: "C_Sign", Code: pkcs11.CKR_DEVICE_ERROR}), ReasonDeviceError, nil},
		{fmt.Errorf("x: %w", token.ErrObjectNotFound), ReasonObjectNotFound, nil},
		{token.ErrKeyNotFound, ReasonKeyNotFound, nil},
		{fmt.Errorf("x: %w", token.ErrReadOnly), ReasonReadOnly, nil},
		{fmt.Errorf("x: %w", token.ErrMechanismUnsupported), ReasonMechanism, nil},
		{fmt.Errorf("x: %w", signer.ErrUnsupported), ReasonMechanism, nil},
		{fmt.Errorf("something else"), ReasonInternal, nil},
		{Errorf(ReasonInvalidParams, "bad"), ReasonInvalidParams, nil},
	}
	for _, tt := range tests {
		got := classify(tt.err)
		if got.Reason != tt.reason {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got.Reason, tt.reason)
		}
		if fmt.Sprint(got.Data) != fmt.Sprint(tt.data) {
			t.Errorf("classify(%v) data = %v, want %v", tt.err, got.Data, tt.data)
		}
	}
}
