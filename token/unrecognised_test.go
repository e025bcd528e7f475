package token_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenagent/tokenagent/internal/p11shim"
	"github.com/tokenagent/tokenagent/internal/pcsctest"
	"github.com/tokenagent/tokenagent/token"
)

// openSC returns the path of OpenSC's PKCS#11 module; the test is skipped
// when it is missing, except under CI.
func openSC(t *testing.T) string {
	t.Helper()
	for _, pattern := range []string{"/usr/lib/*-linux-gnu/opensc-pkcs11.so", "/usr/lib64/opensc-pkcs11.so", "/usr/lib/opensc-pkcs11.so"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("opensc-pkcs11.so not found (package opensc; CI is set, so this is not skipped)")
	}
	t.Skip("opensc-pkcs11.so not found (package opensc)")
	return ""
}

// TestUnrecognisedCardProbedOncePerInsertion puts vicc's ISO 7816 card,
// which OpenSC has no driver for, in a reader: OpenSC probes it again at
// every C_GetSlotList and C_GetSlotInfo (some 5 s each here). The Manager,
// following the readers, lets it do so once per insertion: counted in the
// shim's call log, one listing of the slots for three listings of the
// tokens, and one more after the card went out and came back.
func TestUnrecognisedCardProbedOncePerInsertion(t *testing.T) {
	module := openSC(t)
	d := pcsctest.StartPCSCD(t)
	w, rec, _ := watch(t)
	present := func(want bool) func(token.ReaderState) bool {
		return func(s token.ReaderState) bool {
			for _, r := range s.Readers {
				if r.Name == pcsctest.Reader {
					return r.Present == want
				}
			}
			return false
		}
	}
	mark := rec.mark()
	card := pcsctest.StartCard(t, d)
	rec.waitSince(t, mark, 10*time.Second, "the card in", present(true))
	ctl := p11shim.Use(t, module)
	m := newManager(t, p11shim.Path(t))
	m.FollowReaders(w.State)

	listings := func(what string) {
		t.Helper()
		ctl.ClearCalls(t)
		for range 3 {
			if tokens, err := m.Tokens(context.Background()); err != nil || len(tokens) != 0 {
				t.Fatalf("%s: tokens %v, %v; want none (the card is not OpenSC's)", what, tokens, err)
			}
		}
		// miekg/pkcs11 calls C_GetSlotList twice, for the count and then
		// the slots: one listing of the slots in three.
		if n := ctl.Called(t, "C_GetSlotList"); n != 2 {
			t.Errorf("%s: C_GetSlotList called %d times for three listings, want one listing (2 calls)", what, n)
		}
		if n := ctl.Called(t, "C_GetSlotInfo"); n != 0 {
			t.Errorf("%s: C_GetSlotInfo called %d times, want none for a card OpenSC does not know", what, n)
		}
	}
	listings("card in")

	mark = rec.mark()
	card.Remove(t)
	rec.waitSince(t, mark, 10*time.Second, "the card out", present(false))
	if _, err := m.Tokens(context.Background()); err != nil {
		t.Fatal(err)
	}
	mark = rec.mark()
	card.Insert(t)
	rec.waitSince(t, mark, 10*time.Second, "the card in again", present(true))
	listings("card in again")
}

// TestReaderModuleListing makes SoftHSM's slots look like card readers:
// while the readers hold the same cards, listings read each token's info
// again (its PIN flags show) but not the slot list; other cards, or PC/SC
// not answering, list the slots again.
func TestReaderModuleListing(t *testing.T) {
	f := newFixture(t)
	ctl := p11shim.Use(t, f.env.Module)
	ctl.Set(t, "slot_flags_set = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT") // before the module loads
	m := newManager(t, p11shim.Path(t))
	state := token.ReaderState{Available: true, Readers: []token.Reader{{Name: "Reader 0", Present: true, ATR: []byte{0x3b, 0x01}}}}
	m.FollowReaders(func() token.ReaderState { return state })
	list := func() map[string]token.TokenInfo {
		t.Helper()
		ctl.ClearCalls(t)
		return tokensByLabel(t, m)
	}
	if got := list(); len(got) != 2 || ctl.Called(t, "C_GetSlotList") == 0 {
		t.Fatalf("first listing: %v, %d slot listings", got, ctl.Called(t, "C_GetSlotList"))
	}
	ctl.Set(t, "slot_flags_set = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT", "slot_label = alice", "token_flags_set = CKF_USER_PIN_COUNT_LOW")
	got := list()
	if !got["alice"].PIN.CountLow || len(got) != 2 {
		t.Errorf("same cards: %v, want both tokens and alice's new flag", got)
	}
	// alice, bob and SoftHSM's free slot, whose token is not initialised.
	if ctl.Called(t, "C_GetSlotList") != 0 || ctl.Called(t, "C_GetSlotInfo") != 0 || ctl.Called(t, "C_GetTokenInfo") != 3 {
		t.Errorf("same cards: calls %q, want C_GetTokenInfo for each of the 3 slots with a token only", ctl.Calls(t))
	}
	for name, next := range map[string]token.ReaderState{
		"another card":        {Available: true, Readers: []token.Reader{{Name: "Reader 0", Present: true, ATR: []byte{0x3b, 0x02}}}},
		"PC/SC not answering": {},
	} {
		state = next
		if got := list(); len(got) != 2 || ctl.Called(t, "C_GetSlotList") == 0 {
			t.Errorf("%s: %v, %d slot listings; want the slots listed again", name, got, ctl.Called(t, "C_GetSlotList"))
		}
	}
}
