package main

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
		got, err := configPath(tc.goos, tc.user, func(k string) string { return tc.env[k] })
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("configPath(%s, user=%v, %v) = %q, want an error", tc.goos, tc.user, tc.env, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("configPath(%s, user=%v, %v) = %q, %v; want %q", tc.goos, tc.user, tc.env, got, err, tc.want)
		}
	}
}
