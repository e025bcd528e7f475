package config

import "testing"

func TestConfigPath(t *testing.T) {
	for _, tc := range []struct {
		goos string
		user bool
		env  map[string]string
		want string // empty: an error
	}{
		{"linux", false, nil, "/etc/tokenagent/config.toml"},
		{"linux", false, map[string]string{"XDG_CONFIG_HOME": "/x"}, "/etc/tokenagent/config.toml"},
		{"freebsd", false, nil, "/etc/tokenagent/config.toml"},
		{"linux", true, map[string]string{"HOME": "/home/u"}, "/home/u/.config/tokenagent/config.toml"},
		{"linux", true, map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/home/u/cfg"}, "/home/u/cfg/tokenagent/config.toml"},
		{"linux", true, map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "rel"}, "/home/u/.config/tokenagent/config.toml"},
		{"linux", true, nil, ""},
		{"darwin", false, nil, "/Library/Application Support/tokenagent/config.toml"},
		{"darwin", true, map[string]string{"HOME": "/Users/u", "XDG_CONFIG_HOME": "/x"}, "/Users/u/Library/Application Support/tokenagent/config.toml"},
		{"darwin", true, nil, ""},
		{"windows", false, map[string]string{"ProgramData": `D:\ProgramData`}, `D:\ProgramData\tokenagent\config.toml`},
		{"windows", false, nil, `C:\ProgramData\tokenagent\config.toml`},
		{"windows", true, map[string]string{"APPDATA": `C:\Users\u\AppData\Roaming\`}, `C:\Users\u\AppData\Roaming\tokenagent\config.toml`},
		{"windows", true, map[string]string{"HOME": "/home/u"}, ""},
	} {
		got, err := File(tc.goos, tc.user, func(k string) string { return tc.env[k] })
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("File(%s, user=%v, %v) = %q, want an error", tc.goos, tc.user, tc.env, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("File(%s, user=%v, %v) = %q, %v; want %q", tc.goos, tc.user, tc.env, got, err, tc.want)
		}
	}
}

func TestTLSDir(t *testing.T) {
	env := map[string]string{"HOME": "/home/ann", "XDG_STATE_HOME": "/xdg/state", "ProgramData": `D:\PD`, "LOCALAPPDATA": `C:\Users\ann\AppData\Local`}
	getenv := func(k string) string { return env[k] }
	noenv := func(string) string { return "" }
	for _, tc := range []struct {
		goos   string
		user   bool
		getenv func(string) string
		want   string
	}{
		{"linux", false, getenv, "/var/lib/tokenagent/tls"},
		{"linux", true, getenv, "/xdg/state/tokenagent/tls"},
		{"linux", true, func(k string) string { return map[string]string{"HOME": "/home/ann", "XDG_STATE_HOME": "rel"}[k] }, "/home/ann/.local/state/tokenagent/tls"},
		{"darwin", false, getenv, "/Library/Application Support/tokenagent/tls"},
		{"darwin", true, getenv, "/home/ann/Library/Application Support/tokenagent/tls"},
		{"windows", false, getenv, `D:\PD\tokenagent\tls`},
		{"windows", false, noenv, `C:\ProgramData\tokenagent\tls`},
		{"windows", true, getenv, `C:\Users\ann\AppData\Local\tokenagent\tls`},
	} {
		got, err := TLSDir(tc.goos, tc.user, tc.getenv)
		if err != nil || got != tc.want {
			t.Errorf("TLSDir(%s, user=%v) = %q, %v; want %q", tc.goos, tc.user, got, err, tc.want)
		}
	}
	for _, goos := range []string{"linux", "darwin", "windows"} {
		if _, err := TLSDir(goos, true, noenv); err == nil {
			t.Errorf("TLSDir(%s, user) without an environment: no error", goos)
		}
	}
}
