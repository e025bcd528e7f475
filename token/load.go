package token

import (
	"fmt"
	"slices"
)

// loaded returns the loaded modules; AddModule may add to them meanwhile.
func (m *Manager) loaded() []*Module {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.modules)
}

// AddModule loads the module at path into the Manager, as NewManager does
// for each path and the agent does for a card whose module was not
// configured. It tells whether the module is new: a module the Manager has
// already (under this or another path) is not added twice. A module that
// fails to load is reported in Modules with its error.
func (m *Manager) AddModule(path string) (bool, error) {
	mod, err := OpenModule(path) // slow (dlopen, C_Initialize): not under m.mu
	added, err := m.addModule(path, mod, err)
	if mod != nil && !added {
		_ = mod.Close() // the Manager is closed, or has the module already
	}
	return added, err
}

func (m *Manager) addModule(path string, mod *Module, err error) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return false, fmt.Errorf("loading module %s: %w", path, ErrClosed)
	case err != nil:
		m.statuses = append(m.statuses, ModuleStatus{Path: path, State: ModuleFailed, Err: err})
		return false, err
	case slices.Contains(m.modules, mod):
		return false, nil
	}
	m.log.Info("module loaded", "module", path, "manufacturer", mod.info.Manufacturer, "version", mod.info.LibraryVersion)
	m.statuses = append(m.statuses, ModuleStatus{Path: path, Info: mod.info, State: ModuleReady})
	m.modules = append(m.modules, mod)
	return true, nil
}
