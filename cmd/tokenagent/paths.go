package main

import (
	"errors"
	"path"
	"strings"
)

// configPath returns the standard place of the config file on goos: the
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
func configPath(goos string, user bool, getenv func(string) string) (string, error) {
	switch goos {
	case "windows":
		if !user {
			base := getenv("ProgramData")
			if base == "" {
				base = `C:\ProgramData`
			}
			return windowsJoin(base, "tokenagent", "config.toml"), nil
		}
		base := getenv("APPDATA")
		if base == "" {
			return "", errors.New("finding the user's config directory: %APPDATA% is not set")
		}
		return windowsJoin(base, "tokenagent", "config.toml"), nil
	case "darwin", "ios":
		if !user {
			return "/Library/Application Support/tokenagent/config.toml", nil
		}
		home := getenv("HOME")
		if home == "" {
			return "", errors.New("finding the user's config directory: $HOME is not set")
		}
		return path.Join(home, "Library", "Application Support", "tokenagent", "config.toml"), nil
	}
	if !user {
		return "/etc/tokenagent/config.toml", nil
	}
	if xdg := getenv("XDG_CONFIG_HOME"); path.IsAbs(xdg) { // the spec says to ignore a relative one
		return path.Join(xdg, "tokenagent", "config.toml"), nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", errors.New("finding the user's config directory: neither $XDG_CONFIG_HOME nor $HOME is set")
	}
	return path.Join(home, ".config", "tokenagent", "config.toml"), nil
}

// windowsJoin joins Windows path elements with backslashes, whatever the
// system running the code.
func windowsJoin(elem ...string) string {
	for i := range elem[:len(elem)-1] {
		elem[i] = strings.TrimRight(elem[i], `\/`)
	}
	return strings.Join(elem, `\`)
}
