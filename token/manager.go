package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// ModuleState says whether a configured module can serve calls.
type ModuleState string

// The states of a module.
const (
	// ModuleReady: loaded and serving.
	ModuleReady ModuleState = "ready"
	// ModuleRecovering: a call failed as if the module's back end went
	// away (a device error, the TPM behind it restarted); the module is
	// re-initialised as soon as no call is in flight. Err is that call's
	// error.
	ModuleRecovering ModuleState = "recovering"
	// ModuleFailed: the module did not load, or its re-initialisation
	// failed and lists no tokens until one succeeds (Refresh tries again).
	// Err says why.
	ModuleFailed ModuleState = "failed"
)

// ModuleStatus is a configured module and how loading it went.
type ModuleStatus struct {
	Path  string
	Info  ModuleInfo // zero when the module could not be loaded
	State ModuleState
	Err   error // why the module is not ready; nil when it is
}

// Manager is the set of modules the agent uses and the tokens in them. It is
// safe for concurrent use.
type Manager struct {
	log *slog.Logger

	mu       sync.Mutex
	statuses []ModuleStatus
	modules  []*Module // the loaded ones, in configuration order, then as AddModule loaded them
	closed   bool
	where    map[string]slotRef // token id → where it was last seen
	readers  func() ReaderState // the PC/SC readers, when followed (FollowReaders)
}

// slotRef is where a token was listed, and what its id was derived from.
type slotRef struct {
	mod      *Module
	slot     uint
	identity identity
	names    slotNames
}

// NewManager opens the modules at paths. A module that fails to load is kept
// in Modules with its error; the others work regardless.
func NewManager(paths []string, log *slog.Logger) *Manager {
	m := &Manager{log: log, where: map[string]slotRef{}}
	for _, p := range paths {
		if _, err := m.AddModule(p); err != nil {
			log.Warn("module not loaded", "module", p, "err", err)
		}
	}
	return m
}

// Modules reports every configured module, loaded or not, and its state.
func (m *Manager) Modules() []ModuleStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]ModuleStatus(nil), m.statuses...)
	for i, st := range out {
		if st.Err != nil {
			continue
		}
		for _, mod := range m.modules {
			if mod.path == st.Path {
				out[i].State, out[i].Err = mod.health()
			}
		}
	}
	return out
}

// Close finalises the modules, waiting for calls in flight.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	modules := m.modules
	m.mu.Unlock()
	var errs []error
	for _, mod := range modules {
		errs = append(errs, mod.Close())
	}
	return errors.Join(errs...)
}

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

// Tokens lists the tokens present in every loaded module. A module that
// fails to answer is logged and skipped, so one broken module does not hide
// the others' tokens; one whose re-initialisation failed lists nothing
// until a Refresh succeeds.
func (m *Manager) Tokens(ctx context.Context) ([]TokenInfo, error) {
	if m.isClosed() {
		return nil, ErrClosed
	}
	var all []TokenInfo
	where := map[string]slotRef{}
	cards := m.readerCards()
	for _, mod := range m.loaded() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if mod.initError() != nil {
			continue // Modules says why
		}
		infos, err := mod.listTokens(cards)
		if err != nil {
			mod.noteFailure(err)
			m.log.Warn("listing tokens failed", "module", mod.path, "err", err)
			continue
		}
		for _, ti := range infos {
			where[ti.ID] = slotRef{mod: mod, slot: ti.Slot, identity: ti.identity,
				names: slotNames{ti.SlotDescription, ti.SlotManufacturer}}
		}
		all = append(all, infos...)
	}
	m.mu.Lock()
	m.where = where
	m.mu.Unlock()
	return all, nil
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
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

// heldToken is one token found in its slot for one call, with its lock
// held: what every operation on a token starts from.
type heldToken struct {
	mod   *Module
	p11   *pkcs11.Ctx
	info  TokenInfo // read under the lock
	state *tokenState
}

// errNotInSlot means a slot no longer holds the token looked for there.
var errNotInSlot = errors.New("token not in its slot")

// withToken finds the token id, takes its lock, and runs fn with it. It
// returns ErrTokenNotFound when no module has the token.
func (m *Manager) withToken(ctx context.Context, id string, fn func(t *heldToken) error) error {
	ref, cached, err := m.find(ctx, id, false)
	if err != nil {
		return err
	}
	err = m.hold(ctx, ref, id, fn)
	if errors.Is(err, errNotInSlot) && cached {
		// The last listing is stale; the token may sit in another slot now.
		if ref, _, err = m.find(ctx, id, true); err != nil {
			return err
		}
		err = m.hold(ctx, ref, id, fn)
	}
	if errors.Is(err, errNotInSlot) {
		return fmt.Errorf("token %s: %w", id, ErrTokenNotFound)
	}
	return err
}

// hold takes token id's lock, checks that the slot of ref still holds it,
// and runs fn. A call that failed as if the module's back end went away
// has the module re-initialised at its end, unless other calls are using
// it.
func (m *Manager) hold(ctx context.Context, ref slotRef, id string, fn func(t *heldToken) error) error {
	if ref.mod.initError() != nil {
		m.refresh(ref.mod) // its back end may be back
	}
	state := ref.mod.stateOf(id)
	if err := state.lock.lock(ctx); err != nil {
		return err
	}
	defer state.lock.unlock()
	err := ref.mod.use(func(p11 *pkcs11.Ctx) error {
		// Read the info again under the lock: the slot may have been
		// emptied or refilled since it was listed. C_GetTokenInfo says
		// so by itself (CKR_TOKEN_NOT_PRESENT), and its flags are those
		// a login is decided on.
		ti, err := p11.GetTokenInfo(ref.slot)
		if err != nil {
			err = mapError("C_GetTokenInfo", err)
			if errors.Is(err, ErrTokenRemoved) || goneFromStore(err) {
				return errNotInSlot
			}
			return err
		}
		info := tokenInfo(ref.mod.path, ref.slot, ref.names, ti)
		if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 || info.id(ref.identity) != id {
			return errNotInSlot
		}
		info.ID, info.identity = id, ref.identity
		return fn(&heldToken{mod: ref.mod, p11: p11, info: info, state: state})
	})
	if ref.mod.noteFailure(err) {
		m.refresh(ref.mod)
	}
	return err
}

// find returns where token id is: from the last listing unless fresh is set
// or the listing does not have it, else from a new listing after a Refresh
// (the token may be one another process made, or of a module just
// recovered). cached tells which.
func (m *Manager) find(ctx context.Context, id string, fresh bool) (ref slotRef, cached bool, err error) {
	if !fresh {
		m.mu.Lock()
		ref, ok := m.where[id]
		m.mu.Unlock()
		if ok {
			return ref, true, nil
		}
	}
	m.Refresh()
	if _, err := m.Tokens(ctx); err != nil {
		return slotRef{}, false, err
	}
	m.mu.Lock()
	ref, ok := m.where[id]
	m.mu.Unlock()
	if !ok {
		return slotRef{}, false, fmt.Errorf("token %s: %w", id, ErrTokenNotFound)
	}
	return ref, false, nil
}
