package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/miekg/pkcs11"
)

// ModuleStatus is a configured module and how loading it went.
type ModuleStatus struct {
	Path string
	Info ModuleInfo // zero when the module could not be loaded
	Err  error      // why the module could not be loaded, or re-initialised
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
}

type slotRef struct {
	mod  *Module
	slot uint
}

// NewManager opens the modules at paths. A module that fails to load is kept
// in Modules with its error; the others work regardless.
func NewManager(paths []string, log *slog.Logger) *Manager {
	m := &Manager{log: log, where: map[string]slotRef{}}
	seen := map[*Module]bool{}
	for _, p := range paths {
		mod, err := OpenModule(p)
		if err != nil {
			log.Warn("module not loaded", "module", p, "err", err)
			m.statuses = append(m.statuses, ModuleStatus{Path: p, Err: err})
			continue
		}
		if seen[mod] {
			// Two paths naming one library: list its tokens once.
			_ = mod.Close()
			continue
		}
		seen[mod] = true
		log.Info("module loaded", "module", p, "manufacturer", mod.info.Manufacturer, "version", mod.info.LibraryVersion)
		m.statuses = append(m.statuses, ModuleStatus{Path: p, Info: mod.info})
		m.modules = append(m.modules, mod)
	}
	return m
}

// Modules reports every configured module, loaded or not. A loaded module
// whose re-initialisation failed (Refresh) reports that error until a later
// one succeeds: its tokens are gone meanwhile, and this tells why.
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
				out[i].Err = mod.initError()
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
// the others' tokens.
func (m *Manager) Tokens(ctx context.Context) ([]TokenInfo, error) {
	if m.isClosed() {
		return nil, ErrClosed
	}
	var all []TokenInfo
	where := map[string]slotRef{}
	for _, mod := range m.loaded() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		infos, err := mod.tokens()
		if err != nil {
			m.log.Warn("listing tokens failed", "module", mod.path, "err", err)
			continue
		}
		for _, ti := range infos {
			where[ti.ID] = slotRef{mod: mod, slot: ti.Slot}
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

// tokens lists the initialised tokens in the module's slots.
func (mod *Module) tokens() ([]TokenInfo, error) {
	var out []TokenInfo
	err := mod.use(func(c *pkcs11.Ctx) error {
		slots, err := c.GetSlotList(true)
		if err != nil {
			return mapError("C_GetSlotList", err)
		}
		for _, slot := range slots {
			ti, err := slotToken(c, mod.path, slot)
			if errors.Is(err, ErrTokenRemoved) || goneFromStore(err) {
				continue // pulled between the two calls, or deleted
			}
			if err != nil {
				return err
			}
			// An uninitialised token (SoftHSM's free slot, a blank card)
			// has no identity and nothing a page could use.
			if ti != nil {
				out = append(out, *ti)
			}
		}
		return nil
	})
	return out, err
}

// slotToken reads the token in slot; nil when it is not initialised.
func slotToken(c *pkcs11.Ctx, module string, slot uint) (*TokenInfo, error) {
	si, err := c.GetSlotInfo(slot)
	if err != nil {
		return nil, mapError("C_GetSlotInfo", err)
	}
	if si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0 {
		return nil, fmt.Errorf("slot %d: %w", slot, ErrTokenRemoved)
	}
	ti, err := c.GetTokenInfo(slot)
	if err != nil {
		return nil, mapError("C_GetTokenInfo", err)
	}
	if ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
		return nil, nil
	}
	info := tokenInfo(module, slot, si, ti)
	return &info, nil
}

// handle is one token, found and locked for the duration of a call.
type handle struct {
	mod  *Module
	c    *pkcs11.Ctx
	info TokenInfo
}

// errNotInSlot means a slot no longer holds the token looked for there.
var errNotInSlot = errors.New("token not in its slot")

// withToken finds the token id, takes its lock, and runs fn with it. It
// returns ErrTokenNotFound when no module has the token.
func (m *Manager) withToken(ctx context.Context, id string, fn func(h *handle) error) error {
	ref, cached, err := m.find(ctx, id, false)
	if err != nil {
		return err
	}
	err = m.runLocked(ctx, ref, id, fn)
	if errors.Is(err, errNotInSlot) && cached {
		// The last listing is stale; the token may sit in another slot now.
		if ref, _, err = m.find(ctx, id, true); err != nil {
			return err
		}
		err = m.runLocked(ctx, ref, id, fn)
	}
	if errors.Is(err, errNotInSlot) {
		return fmt.Errorf("token %s: %w", id, ErrTokenNotFound)
	}
	return err
}

func (m *Manager) runLocked(ctx context.Context, ref slotRef, id string, fn func(h *handle) error) error {
	l := ref.mod.lockFor(id)
	if err := l.lock(ctx); err != nil {
		return err
	}
	defer l.unlock()
	// A call that destroyed objects may leave the module holding too many:
	// re-initialise it now, unless other calls are using it.
	defer func() {
		if ref.mod.retainsDestroyed() {
			m.refresh(ref.mod)
		}
	}()
	return ref.mod.use(func(c *pkcs11.Ctx) error {
		// Read the info again under the lock: the slot may have been
		// emptied or refilled since it was looked up.
		ti, err := slotToken(c, ref.mod.path, ref.slot)
		if errors.Is(err, ErrTokenRemoved) || (err == nil && (ti == nil || ti.ID != id)) {
			return errNotInSlot
		}
		if err != nil {
			return err
		}
		return fn(&handle{mod: ref.mod, c: c, info: *ti})
	})
}

// find returns where token id is: from the last listing unless fresh is set
// or the listing does not have it, else from a new listing. cached tells
// which.
func (m *Manager) find(ctx context.Context, id string, fresh bool) (ref slotRef, cached bool, err error) {
	if !fresh {
		m.mu.Lock()
		ref, ok := m.where[id]
		m.mu.Unlock()
		if ok {
			return ref, true, nil
		}
	}
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
