package token

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ebfe/scard"
)

func TestPCSCReaderFromState(t *testing.T) {
	atr := []byte{0x3b, 0x95, 0x13, 0x81, 0x01, 0x80, 0x73, 0xff, 0x01, 0x00, 0x0b}
	tests := []struct {
		name    string
		reader  string
		flags   scard.StateFlag
		atr     []byte
		gone    bool
		present bool
		wantATR bool
	}{
		{"card in", "r", scard.StatePresent | scard.StateChanged, atr, false, true, true},
		{"card in, in use", "r", scard.StatePresent | scard.StateInuse | 0x30000, atr, false, true, true},
		// pcsc-lite keeps the old ATR after removal.
		{"card removed, stale ATR", "r", scard.StateEmpty | scard.StateChanged | 0x20000, atr, false, false, false},
		{"empty", "r", scard.StateEmpty, nil, false, false, false},
		{"mute card", "r", scard.StatePresent | scard.StateMute, nil, false, true, false},
		{"both flags", "r", scard.StatePresent | scard.StateEmpty, atr, false, false, false},
		{"unavailable", "r", scard.StateUnavailable, nil, false, false, false},
		{"reader gone", "r", scard.StateUnknown | scard.StateChanged, atr, true, false, false},
		{"ignored", "r", scard.StateIgnore, nil, true, false, false},
		{"pnp", pnpReader, scard.StateChanged, nil, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &scard.ReaderState{Reader: tt.reader, EventState: tt.flags, Atr: tt.atr}
			r := readerFromState(st)
			if tt.gone {
				if r != nil {
					t.Fatalf("got %+v, want nil", r)
				}
				return
			}
			if r == nil {
				t.Fatal("got nil")
			}
			if r.Name != tt.reader || r.Present != tt.present {
				t.Errorf("got %+v, want present=%v", r, tt.present)
			}
			if got := r.ATR != nil; got != tt.wantATR {
				t.Errorf("ATR %x, want one: %v", r.ATR, tt.wantATR)
			}
			if r.ATR != nil && &r.ATR[0] == &st.Atr[0] {
				t.Error("ATR shares the scard buffer")
			}
		})
	}
}

func TestPCSCErrors(t *testing.T) {
	for _, tt := range []struct {
		code        scard.Error
		text        string
		serviceGone bool
	}{
		{scard.ErrNoService, "SCardEstablishContext: SCARD_E_NO_SERVICE", true},
		{scard.ErrServiceStopped, "SCardEstablishContext: SCARD_E_SERVICE_STOPPED", true},
		{scard.ErrCommError, "SCardEstablishContext: SCARD_F_COMM_ERROR", true},
		{scard.ErrInvalidHandle, "SCardEstablishContext: SCARD_E_INVALID_HANDLE", true},
		{scard.ErrSecurityViolation, "SCardEstablishContext: SCARD_W_SECURITY_VIOLATION", true},
		{scard.ErrUnknownReader, "SCardEstablishContext: SCARD_E_UNKNOWN_READER", false},
		{scard.Error(0x80100099), "SCardEstablishContext: 0x80100099", false},
	} {
		err := fmt.Errorf("establishing pc/sc context: %w", pcscError("SCardEstablishContext", tt.code))
		if want := "establishing pc/sc context: " + tt.text; err.Error() != want {
			t.Errorf("%#x: got %q, want %q", uint32(tt.code), err, want)
		}
		if got := errors.Is(err, ErrPCSCUnavailable); got != tt.serviceGone {
			t.Errorf("%#x: errors.Is(ErrPCSCUnavailable) = %v", uint32(tt.code), got)
		}
		if !errors.Is(err, tt.code) {
			t.Errorf("%#x: does not unwrap to the scard code", uint32(tt.code))
		}
		var pe *PCSCError
		if !errors.As(err, &pe) || pe.Code != tt.code {
			t.Errorf("%#x: errors.As gave %v", uint32(tt.code), pe)
		}
	}
	other := errors.New("other")
	if got := pcscError("f", other); got != other {
		t.Errorf("a non-PC/SC error was changed to %v", got)
	}
}

func TestPCSCStateEqualAndClone(t *testing.T) {
	a := ReaderState{Available: true, Readers: []Reader{{Name: "r", Present: true, ATR: []byte{1, 2}}}}
	b := a.clone()
	if !a.equal(b) {
		t.Fatal("a clone is not equal")
	}
	b.Readers[0].ATR[0] = 9
	if a.Readers[0].ATR[0] != 1 {
		t.Fatal("the clone shares the ATR")
	}
	if a.equal(b) {
		t.Error("different ATRs are equal")
	}
	if a.equal(ReaderState{}) {
		t.Error("available equals unavailable")
	}
}

// TestPCSCSubscribe checks that subscribers get every change until they
// cancel, each its own copy, besides the watcher's onChange.
func TestPCSCSubscribe(t *testing.T) {
	var onChange, first, second []ReaderState
	w := &PCSCWatcher{closing: make(chan struct{}), onChange: func(s ReaderState) { onChange = append(onChange, s) }}
	cancelFirst := w.Subscribe(func(s ReaderState) { first = append(first, s) })
	w.Subscribe(func(s ReaderState) {
		s.Readers[0].Name = "changed by the subscriber"
		second = append(second, s)
	})
	st := ReaderState{Available: true, Readers: []Reader{{Name: "r"}}}
	w.notify(st)
	cancelFirst()
	w.notify(st)
	if len(onChange) != 2 || len(first) != 1 || len(second) != 2 {
		t.Errorf("onChange got %d changes, the first subscriber %d, the second %d; want 2, 1, 2", len(onChange), len(first), len(second))
	}
	if onChange[0].Readers[0].Name != "r" || first[0].Readers[0].Name != "r" {
		t.Errorf("a subscriber's change reached the others: %+v, %+v", onChange[0], first[0])
	}
}
