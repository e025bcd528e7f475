package token

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// ModuleInfo describes a loaded PKCS#11 library (C_GetInfo).
type ModuleInfo struct {
	Manufacturer   string
	Description    string
	LibraryVersion string // "major.minor"
}

// Module is one loaded PKCS#11 library, shared by every user of its path.
type Module struct {
	path string // as given by the caller
	key  string // resolved path, the registry key
	info ModuleInfo

	// mu guards p11 against finalisation: calls hold the read side, and
	// finalising or re-initialising holds the write side.
	mu     sync.RWMutex
	p11    *pkcs11.Ctx
	direct directCalls // the calls made without asking for a length first (direct.go)
	closed bool
	// store is watched to re-initialise the module when tokens were made
	// or deleted by another process (refresh.go); nil for most modules.
	store *tokenStore

	// health says why calls fail (refresh.go). It has a lock of its own so
	// that reporting it (Manager.Modules) never waits behind a
	// re-initialisation, which holds mu while C_Initialize runs.
	healthMu sync.Mutex
	// initErr is why C_Initialize failed in a re-initialisation; calls fail
	// until a later one succeeds and clears it.
	initErr error
	// failing is the error of a call that failed as if the module's back
	// end went away (backendGone); the module is re-initialised as soon as
	// no call is in flight, which clears it.
	failing error

	// readerSlots: the module's slots are card readers, and its last
	// listing (memo) stands while PC/SC shows the same cards
	// (Module.listTokens).
	readerSlots bool
	memoMu      sync.Mutex
	memo        *slotMemo

	// tokensMu guards the map; what each entry holds is guarded as its doc
	// says.
	tokensMu sync.Mutex
	tokens   map[string]*tokenState // by token id
}

// tokenState is what a module keeps for one token between calls: opening
// sessions and finding objects again is what makes calls slow. lock is the
// token's one lock: a call holds it from finding the token in its slot to
// its last PKCS#11 call. The other fields are used only by the call holding
// the lock, inside Module.use, and cleared by a re-initialisation, which
// holds the module's write lock and so runs when no call is inside use.
type tokenState struct {
	lock tokenLock

	session    pkcs11.SessionHandle // valid when hasSession
	hasSession bool
	mechs      map[uint]bool                 // the token's mechanism list; nil until read
	mechInfo   map[uint]pkcs11.MechanismInfo // C_GetMechanismInfo, read on first need
	certs      map[string]Certificate        // the certificates last read, by object id
	// keyAuth tells, by CKA_ID, whether the one private key with that
	// CKA_ID needs a login for each use (KeyForCertificate).
	keyAuth map[string]bool
}

// registry holds the loaded modules: a library may be initialised only once
// per process.
var registry = struct {
	sync.Mutex
	modules map[string]*Module
	refs    map[*Module]int
}{modules: map[string]*Module{}, refs: map[*Module]int{}}

// OpenModule loads and initialises the PKCS#11 library at path, or shares it
// when this process already has it open. Each successful OpenModule needs one
// Close.
func OpenModule(path string) (*Module, error) {
	key, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("loading module %s: %w", path, err)
	}
	if key, err = filepath.Abs(key); err != nil {
		return nil, fmt.Errorf("loading module %s: %w", path, err)
	}
	registry.Lock()
	defer registry.Unlock()
	if m, ok := registry.modules[key]; ok {
		registry.refs[m]++
		return m, nil
	}
	m, err := loadModule(path, key)
	if err != nil {
		return nil, err
	}
	registry.modules[key] = m
	registry.refs[m] = 1
	return m, nil
}

func loadModule(path, key string) (*Module, error) {
	if _, err := os.Stat(key); err != nil {
		return nil, fmt.Errorf("loading module %s: %w", path, err)
	}
	p11 := pkcs11.New(key)
	if p11 == nil {
		// miekg/pkcs11 drops dlerror's text; the usual causes are these.
		return nil, fmt.Errorf("loading module %s: not a loadable PKCS#11 library (wrong architecture, missing dependency, or no C_GetFunctionList)", path)
	}
	if err := p11.Initialize(); err != nil {
		p11.Destroy()
		return nil, fmt.Errorf("initialising module %s: %w", path, mapError("C_Initialize", err))
	}
	gi, err := p11.GetInfo()
	if err != nil {
		_ = p11.Finalize()
		p11.Destroy()
		return nil, fmt.Errorf("reading module info of %s: %w", path, mapError("C_GetInfo", err))
	}
	info := ModuleInfo{
		Manufacturer:   padded(gi.ManufacturerID),
		Description:    padded(gi.LibraryDescription),
		LibraryVersion: fmt.Sprintf("%d.%d", gi.LibraryVersion.Major, gi.LibraryVersion.Minor),
	}
	return &Module{
		path:        path,
		key:         key,
		p11:         p11,
		direct:      openDirect(key),
		info:        info,
		store:       storeOf(info),
		readerSlots: hasReaderSlots(p11),
		tokens:      map[string]*tokenState{},
	}, nil
}

// Path returns the path the module was opened with.
func (m *Module) Path() string { return m.path }

// Info returns the library's C_GetInfo data.
func (m *Module) Info() ModuleInfo { return m.info }

// Close releases this user's reference; the last one finalises the library.
// Close waits for calls in flight on the module.
func (m *Module) Close() error {
	registry.Lock()
	registry.refs[m]--
	last := registry.refs[m] <= 0
	if last {
		delete(registry.refs, m)
		delete(registry.modules, m.key)
	}
	registry.Unlock()
	if !last {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	err := m.p11.Finalize()
	if m.initError() != nil {
		err = nil // a failed re-initialisation left nothing to finalise
	}
	m.direct.close()
	m.p11.Destroy()
	m.p11 = nil
	if err != nil {
		return fmt.Errorf("finalising module %s: %w", m.path, mapError("C_Finalize", err))
	}
	return nil
}

// use runs fn with the module's context, holding off finalisation meanwhile.
func (m *Module) use(fn func(p11 *pkcs11.Ctx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(m.p11)
}

// stateOf returns what the module keeps for token id, made on first use.
// Entries are kept for the module's lifetime: a token unplugged and plugged
// back in keeps its id, and so its lock and its mechanism list.
func (m *Module) stateOf(id string) *tokenState {
	m.tokensMu.Lock()
	defer m.tokensMu.Unlock()
	st, ok := m.tokens[id]
	if !ok {
		st = &tokenState{lock: make(tokenLock, 1)}
		m.tokens[id] = st
	}
	return st
}

// tokenLock is the one lock of a physical token; a channel so that waiting
// for it can give up when the caller's context ends.
type tokenLock chan struct{}

func (l tokenLock) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("waiting for the token: %w", err)
	}
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the token: %w", ctx.Err())
	}
}

func (l tokenLock) unlock() { <-l }
