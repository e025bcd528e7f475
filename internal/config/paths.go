package config

import (
	"fmt"
	"path"
	"strings"
)

// File returns the standard place of the config file on goos: the
// system-wide one, or with user set the current user's, as the service
// reads it:
//
//	         system                                               user
//	linux    /etc/tokenagent/config.toml                          $XDG_CONFIG_HOME/tokenagent/config.toml (~/.config/…)
//	darwin   /Library/Application Support/tokenagent/config.toml  ~/Library/Application Support/tokenagent/config.toml
//	windows  %ProgramData%\tokenagent\config.toml                 %APPDATA%\tokenagent\config.toml
//
// Other Unix systems follow linux. getenv reads the environment (HOME,
// XDG_CONFIG_HOME, ProgramData, APPDATA); goos and getenv are parameters so
// that every platform's answer can be tested anywhere.
func File(goos string, user bool, getenv func(string) string) (string, error) {
	return agentPath(configDirs, goos, user, getenv, "config.toml")
}

// StateDir returns where the agent keeps its state (the audit log, the
// certificates of `tls setup`) on goos:
//
//	         system                                       user
//	linux    /var/lib/tokenagent                          $XDG_STATE_HOME/tokenagent (~/.local/state/…)
//	darwin   /Library/Application Support/tokenagent      ~/Library/Application Support/tokenagent
//	windows  %ProgramData%\tokenagent                     %LOCALAPPDATA%\tokenagent
func StateDir(goos string, user bool, getenv func(string) string) (string, error) {
	return agentPath(stateDirs, goos, user, getenv)
}

// TLSDir returns where `tls setup` keeps the certificates on goos: tls in
// the state directory.
func TLSDir(goos string, user bool, getenv func(string) string) (string, error) {
	return agentPath(stateDirs, goos, user, getenv, "tls")
}

// agentDirs are the directories of one kind (configuration, state) on each
// platform.
type agentDirs struct {
	what string // for errors: "config", "state"
	// linux and other Unix systems
	system        string // the system-wide directory
	xdgVar, xdgIn string // the user's: $xdgVar, else $HOME/xdgIn
	// windows
	windowsUserVar string // the user's: %windowsUserVar% (system-wide: %ProgramData%)
	// darwin: /Library/Application Support and ~/Library/Application Support
}

var (
	configDirs = agentDirs{what: "config", system: "/etc/tokenagent", xdgVar: "XDG_CONFIG_HOME", xdgIn: ".config", windowsUserVar: "APPDATA"}
	stateDirs  = agentDirs{what: "state", system: "/var/lib/tokenagent", xdgVar: "XDG_STATE_HOME", xdgIn: ".local/state", windowsUserVar: "LOCALAPPDATA"}
)

// agentPath returns elem inside tokenagent's directory of kind dirs on goos,
// system-wide or, with user set, the current user's.
func agentPath(dirs agentDirs, goos string, user bool, getenv func(string) string, elem ...string) (string, error) {
	switch goos {
	case "windows":
		base := getenv("ProgramData")
		if !user && base == "" {
			base = `C:\ProgramData`
		}
		if user {
			if base = getenv(dirs.windowsUserVar); base == "" {
				return "", fmt.Errorf("finding the user's %s directory: %%%s%% is not set", dirs.what, dirs.windowsUserVar)
			}
		}
		return windowsJoin(append([]string{base, "tokenagent"}, elem...)...), nil
	case "darwin", "ios":
		if !user {
			return path.Join(append([]string{"/Library/Application Support/tokenagent"}, elem...)...), nil
		}
		home := getenv("HOME")
		if home == "" {
			return "", fmt.Errorf("finding the user's %s directory: $HOME is not set", dirs.what)
		}
		return path.Join(append([]string{home, "Library", "Application Support", "tokenagent"}, elem...)...), nil
	}
	if !user {
		return path.Join(append([]string{dirs.system}, elem...)...), nil
	}
	if xdg := getenv(dirs.xdgVar); path.IsAbs(xdg) { // the XDG spec says to ignore a relative one
		return path.Join(append([]string{xdg, "tokenagent"}, elem...)...), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", fmt.Errorf("finding the user's %s directory: neither $%s nor $HOME is set", dirs.what, dirs.xdgVar)
	}
	return path.Join(append([]string{home, dirs.xdgIn, "tokenagent"}, elem...)...), nil
}

// windowsJoin joins Windows path elements with backslashes, whatever the
// system running the code.
func windowsJoin(elem ...string) string {
	for i := range elem[:len(elem)-1] {
		elem[i] = strings.TrimRight(elem[i], `\/`)
	}
	return strings.Join(elem, `\`)
}
