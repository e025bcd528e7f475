package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
