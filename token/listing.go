package token

import (
	"errors"
	"fmt"
	"strings"

	"github.com/miekg/pkcs11"
)

// FollowReaders has the Manager ask state for the PC/SC readers and cards
// when it lists tokens, so that a module which met a card it does not
// recognise is not made to probe it again while the cards stay the same
// (see Module.listTokens). state is typically a PCSCWatcher's State.
func (m *Manager) FollowReaders(state func() ReaderState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.readers = state
}

// readerCards describes the PC/SC readers and the cards in them, "" when
// the Manager does not follow them or PC/SC is not available.
func (m *Manager) readerCards() string {
	m.mu.Lock()
	state := m.readers
	m.mu.Unlock()
	if state == nil {
		return ""
	}
	st := state()
	if !st.Available {
		return ""
	}
	var b strings.Builder
	for _, r := range st.Readers {
		fmt.Fprintf(&b, "%s\x00%v\x00%x\n", r.Name, r.Present, r.ATR)
	}
	return b.String()
}

// listTokens lists the initialised tokens in the module's slots, with
// their ids. cards describes the PC/SC readers and their cards (""
// when unknown).
//
// A module whose slots are card readers (CKF_REMOVABLE_DEVICE) changes its
// slots only as readers and cards come and go, which PC/SC tells. And such
// a module may probe a card it has no driver for again at every
// C_GetSlotList and C_GetSlotInfo: OpenSC spends some 5 s on each with
// vicc's ISO 7816 card. So while the readers hold the same cards as at its
// last listing, its slots are taken from that listing, and only the token
// info of each is read again (C_GetTokenInfo, which does not probe, and
// tells PIN flags that change): a card is probed once per insertion, not
// at every listing. C_GetTokenInfo comes before C_GetSlotInfo for the same
// reason.
func (mod *Module) listTokens(cards string) ([]TokenInfo, error) {
	var out []TokenInfo
	err := mod.use(func(p11 *pkcs11.Ctx) error {
		mod.memoMu.Lock()
		memo := mod.memo
		mod.memoMu.Unlock()
		if cards != "" && mod.readerSlots && memo != nil && memo.cards == cards {
			for _, slot := range memo.slots {
				names, ok := memo.names[slot]
				if !ok { // not initialised then: read it whole, as it may be now
					if ti, err := slotToken(p11, mod.path, slot); err == nil && ti != nil {
						out = append(out, *ti)
					}
					continue
				}
				ti, err := p11.GetTokenInfo(slot)
				if err != nil || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
					continue // gone since: the cards changed, and the next listing reads them all
				}
				out = append(out, tokenInfo(mod.path, slot, names, ti))
			}
			return nil
		}
		slots, err := p11.GetSlotList(true)
		if err != nil {
			return mapError("C_GetSlotList", err)
		}
		next := &slotMemo{cards: cards, names: map[uint]slotNames{}}
		for _, slot := range slots {
			ti, err := slotToken(p11, mod.path, slot)
			if errors.Is(err, ErrTokenRemoved) || goneFromStore(err) {
				continue // pulled between the two calls, deleted, or a card the module does not know
			}
			if err != nil {
				return err
			}
			next.slots = append(next.slots, slot)
			// An uninitialised token (SoftHSM's free slot, a blank card)
			// has no identity and nothing a page could use.
			if ti != nil {
				next.names[slot] = slotNames{ti.SlotDescription, ti.SlotManufacturer}
				out = append(out, *ti)
			}
		}
		mod.memoMu.Lock()
		mod.memo = next
		mod.memoMu.Unlock()
		return nil
	})
	identify(out)
	return out, err
}

// slotMemo is a module's last listing, and the readers and cards it was
// made with.
type slotMemo struct {
	cards string
	slots []uint             // those with a token the module knows, initialised or not
	names map[uint]slotNames // the C_GetSlotInfo strings of the initialised ones
}

// hasReaderSlots tells whether one of the module's slots is a card reader
// (CKF_REMOVABLE_DEVICE). Asked once, when the module is loaded.
func hasReaderSlots(p11 *pkcs11.Ctx) bool {
	slots, err := p11.GetSlotList(false)
	if err != nil {
		return false
	}
	for _, slot := range slots {
		if si, err := p11.GetSlotInfo(slot); err == nil && si.Flags&pkcs11.CKF_REMOVABLE_DEVICE != 0 {
			return true
		}
	}
	return false
}

// slotToken reads the token in slot; nil when it is not initialised.
func slotToken(p11 *pkcs11.Ctx, module string, slot uint) (*TokenInfo, error) {
	ti, err := p11.GetTokenInfo(slot)
	if err != nil {
		return nil, mapError("C_GetTokenInfo", err) // CKR_TOKEN_NOT_RECOGNIZED is ErrTokenRemoved
	}
	if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
		return nil, nil
	}
	si, err := p11.GetSlotInfo(slot)
	if err != nil {
		return nil, mapError("C_GetSlotInfo", err)
	}
	if si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0 {
		return nil, fmt.Errorf("slot %d: %w", slot, ErrTokenRemoved)
	}
	info := tokenInfo(module, slot, slotNames{padded(si.SlotDescription), padded(si.ManufacturerID)}, ti)
	return &info, nil
}
