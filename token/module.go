package token

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

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

	// mu guards ctx against finalisation: calls hold the read side.
	mu     sync.RWMutex
	ctx    *pkcs11.Ctx
	closed bool
	// store is watched to re-initialise the module when tokens were made
	// or deleted by another process (refresh.go); nil for most modules.
	store *tokenStore
	// destroyed counts the objects this process destroyed since the
	// module's C_Initialize; a module with a store is re-initialised when
	// it reaches destroyedLimit (refresh.go).
	destroyed atomic.Int64

	// initErr is why a re-initialisation (refresh.go) failed after
	// C_Finalize; calls fail until a later refresh succeeds and clears it.
	// It has a lock of its own so that reporting it (Manager.Modules) never
	// waits behind a refresh, which holds mu while C_Initialize runs.
	initMu  sync.Mutex
	initErr error

	// byToken guards what the module keeps per token id: its lock, its
	// open session, its mechanism list, and the certificates last read.
	byToken  sync.Mutex
	locks    map[string]tokenLock
	sessions map[string]pkcs11.SessionHandle
	mechs    map[string]map[uint]bool
	certs    map[string]map[string]Certificate // by certificate id
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
	ctx := pkcs11.New(key)
	if ctx == nil {
		// miekg/pkcs11 drops dlerror's text; the usual causes are these.
		return nil, fmt.Errorf("loading module %s: not a loadable PKCS#11 library (wrong architecture, missing dependency, or no C_GetFunctionList)", path)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("initialising module %s: %w", path, mapError("C_Initialize", err))
	}
	gi, err := ctx.GetInfo()
	if err != nil {
		_ = ctx.Finalize()
		ctx.Destroy()
		return nil, fmt.Errorf("reading module info of %s: %w", path, mapError("C_GetInfo", err))
	}
	info := ModuleInfo{
		Manufacturer:   gi.ManufacturerID,
		Description:    gi.LibraryDescription,
		LibraryVersion: fmt.Sprintf("%d.%d", gi.LibraryVersion.Major, gi.LibraryVersion.Minor),
	}
	return &Module{
		path:     path,
		key:      key,
		ctx:      ctx,
		info:     info,
		store:    storeOf(info),
		locks:    map[string]tokenLock{},
		mechs:    map[string]map[uint]bool{},
		certs:    map[string]map[string]Certificate{},
		sessions: map[string]pkcs11.SessionHandle{},
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
	err := m.ctx.Finalize()
	if m.initError() != nil {
		err = nil // a failed re-initialisation left nothing to finalise
	}
	m.ctx.Destroy()
	m.ctx = nil
	if err != nil {
		return fmt.Errorf("finalising module %s: %w", m.path, mapError("C_Finalize", err))
	}
	return nil
}

// initError returns why the last re-initialisation failed; nil when the
// module is initialised.
func (m *Module) initError() error {
	m.initMu.Lock()
	defer m.initMu.Unlock()
	return m.initErr
}

func (m *Module) setInitError(err error) {
	m.initMu.Lock()
	defer m.initMu.Unlock()
	m.initErr = err
}

// use runs fn with the module's context, holding off finalisation meanwhile.
func (m *Module) use(fn func(ctx *pkcs11.Ctx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return ErrClosed
	}
	return fn(m.ctx)
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

// lockFor returns the lock of the token with the given id, creating it on
// first use. Locks are kept for the module's lifetime: a token unplugged and
// plugged back in keeps its id, and so its lock.
func (m *Module) lockFor(id string) tokenLock {
	m.byToken.Lock()
	defer m.byToken.Unlock()
	l, ok := m.locks[id]
	if !ok {
		l = make(tokenLock, 1)
		m.locks[id] = l
	}
	return l
}
