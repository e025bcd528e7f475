package agent

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/miekg/pkcs11"
	"github.com/tokenagent/tokenagent/signer"
	"github.com/tokenagent/tokenagent/token"
)

func TestClassify(t *testing.T) {
	st := token.PINState{CountLow: true, SOFinalTry: true, MinLen: 4, MaxLen: 8}
	tests := []struct {
		err    error
		kind   Kind
		tries  *PINTries
		length *PINLength
	}{
		{&token.PINError{Problem: token.PINIncorrect, State: st}, PINIncorrect, &PINTries{CountLow: true, FinalTry: false}, nil},
		{&token.PINError{Problem: token.PINIncorrect, SO: true, State: st}, SOPINIncorrect, &PINTries{CountLow: false, FinalTry: true}, nil},
		{&token.PINError{Problem: token.PINLocked}, PINLocked, nil, nil},
		{&token.PINError{Problem: token.PINLocked, SO: true}, SOPINLocked, nil, nil},
		{&token.PINError{Problem: token.PINFinalTry}, PINFinalTry, nil, nil},
		{&token.PINError{Problem: token.PINFinalTry, SO: true}, PINFinalTry, nil, nil},
		{&token.PINError{Problem: token.PINInvalid, State: st}, PINInvalid, nil, &PINLength{Min: 4, Max: 8}},
		{fmt.Errorf("x: %w", token.ErrTokenNotFound), TokenNotFound, nil, nil},
		{fmt.Errorf("x: %w", token.ErrTokenRemoved), TokenRemoved, nil, nil},
		{fmt.Errorf("x: %w", &token.DeviceError{Func: "C_Sign", Code: pkcs11.CKR_DEVICE_ERROR}), DeviceError, nil, nil},
		{fmt.Errorf("x: %w", token.ErrObjectNotFound), ObjectNotFound, nil, nil},
		{token.ErrKeyNotFound, KeyNotFound, nil, nil},
		{fmt.Errorf("x: %w", token.ErrReadOnly), ReadOnly, nil, nil},
		{fmt.Errorf("x: %w", token.ErrMechanismUnsupported), MechanismUnsupported, nil, nil},
		{fmt.Errorf("x: %w", signer.ErrUnsupported), MechanismUnsupported, nil, nil},
		{fmt.Errorf("something else"), Internal, nil, nil},
		{Errorf(InvalidInput, "bad"), InvalidInput, nil, nil},
	}
	for _, tt := range tests {
		got := classify(tt.err)
		if got.Kind != tt.kind {
			t.Errorf("classify(%v) = %s, want %s", tt.err, got.Kind, tt.kind)
		}
		if !reflect.DeepEqual(got.Tries, tt.tries) || !reflect.DeepEqual(got.Length, tt.length) {
			t.Errorf("classify(%v) details = %+v, %+v; want %+v, %+v", tt.err, got.Tries, got.Length, tt.tries, tt.length)
		}
	}
}

// TestKindNames checks that every kind has its audit name, and only one.
func TestKindNames(t *testing.T) {
	seen := map[string]Kind{}
	for _, k := range Kinds() {
		name := k.String()
		if name == "" {
			t.Errorf("kind %d has no name", k)
		}
		if other, dup := seen[name]; dup {
			t.Errorf("kinds %d and %d are both %s", other, k, name)
		}
		seen[name] = k
	}
}
