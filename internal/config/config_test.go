package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/ws"
)

// writeConfig writes doc to a config file in a fresh directory and returns its path.
func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// errText returns err's message with path replaced by FILE.
func errText(err error, path string) string {
	if err == nil {
		return "<nil>"
	}
	if path == "" {
		return err.Error()
	}
	return strings.ReplaceAll(err.Error(), path, "FILE")
}

func TestDefaultConfig(t *testing.T) {
	want := Config{
		Listen:                  "127.0.0.1:24321",
		AllowNoOrigin:           true,
		MaxConnections:          256,
		MaxConnectionsPerOrigin: 32,
		MaxMessageBytes:         8388608,
		IdleTimeout:             5 * time.Minute,
		ConsentTimeout:          120 * time.Second,
		RenewBeforeDays:         30,
		PollInterval:            time.Second,
		AuditMaxBytes:           16 << 20,
		AuditKeep:               4,
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("Default() = %+v, want %+v", got, want)
	}
	for name, path := range map[string]string{
		"no file":       "",
		"empty file":    writeConfig(t, ""),
		"comments only": writeConfig(t, "# nothing here\n\n   # nor here\n"),
		"template":      writeConfig(t, "modules = []\naudit_log = \"\"\n[tls]\ncert = \"\"\nkey = \"\"\n"),
	} {
		got, err := Load(path, Overrides{})
		if err != nil {
			t.Errorf("%s: loadConfig: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: loadConfig = %+v, want %+v", name, got, want)
		}
		if got.NonLoopback() {
			t.Errorf("%s: default config listens on a non-loopback address", name)
		}
	}
}

const fullConfig = `# every key
listen = "127.0.0.2:24400"
modules = ["/usr/lib/a.so", "/usr/lib/b.so", "/usr/lib/a.so"]
allowed_origins = ["HTTPS://CA.Example.com:443", "http://localhost:8080", "https://ca.example.com"]
allow_no_origin = false
max_connections = 10
max_connections_per_origin = 4
max_message_bytes = 1024
idle_timeout = "90s"
consent_timeout = "45s"
renew_before_days = 0
poll_interval = "250ms"
state_dir = "/srv/tokenagent"
audit_log = "/var/log/tokenagent/audit.jsonl"
audit_max_bytes = 1048576
audit_keep = 10

[tls]
cert = "/etc/tokenagent/cert.pem"
key = "/etc/tokenagent/key.pem"

[[origin]]
origin = "https://shop.example.com:443"
methods = ["agent.info","tokens.list","certs.list","sign","sign"]

[[origin]]
origin = "http://127.0.0.1:8080"
pin_entry = "agent"

[[media]]
name = "cpp-blue"
description = "Legacy CPP media"
legacy = true
upgrade_to = "bjca"
carry_over_months = 6
match_manufacturer = "^CPP"
match_model = "blue"
match_label = "^legacy-"
match_atr = "^3b9f"

[[media]]
name = "bjca"
`

func TestLoadConfigFull(t *testing.T) {
	path := writeConfig(t, fullConfig)
	got, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Listen:                  "127.0.0.2:24400",
		Modules:                 []string{"/usr/lib/a.so", "/usr/lib/b.so"},
		AllowedOrigins:          []string{"https://ca.example.com", "http://localhost:8080"},
		AllowNoOrigin:           false,
		MaxConnections:          10,
		MaxConnectionsPerOrigin: 4,
		MaxMessageBytes:         1024,
		IdleTimeout:             90 * time.Second,
		ConsentTimeout:          45 * time.Second,
		RenewBeforeDays:         0,
		PollInterval:            250 * time.Millisecond,
		StateDir:                "/srv/tokenagent",
		AuditLog:                "/var/log/tokenagent/audit.jsonl",
		AuditMaxBytes:           1 << 20,
		AuditKeep:               10,
		TLS:                     TLS{Cert: "/etc/tokenagent/cert.pem", Key: "/etc/tokenagent/key.pem"},
		Origins: []OriginPolicy{
			{Origin: "https://shop.example.com", Methods: []string{"agent.info", "tokens.list", "certs.list", "sign"}},
			{Origin: "http://127.0.0.1:8080", PINEntry: ws.PINEntryAgent},
		},
		Media: []agent.MediaProfile{
			{
				Name:              "cpp-blue",
				Description:       "Legacy CPP media",
				Legacy:            true,
				UpgradeTo:         "bjca",
				CarryOverMonths:   6,
				MatchManufacturer: regexp.MustCompile("^CPP"),
				MatchModel:        regexp.MustCompile("blue"),
				MatchLabel:        regexp.MustCompile("^legacy-"),
				MatchATR:          regexp.MustCompile("^3b9f"),
			},
			{Name: "bjca", CarryOverMonths: 12},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loadConfig =\n%+v\nwant\n%+v", got, want)
	}
	if got.NonLoopback() {
		t.Error("127.0.0.2 reported as non-loopback")
	}
	wantMethods := map[string][]string{
		"https://shop.example.com": {"agent.info", "tokens.list", "certs.list", "sign"},
	}
	if m := got.OriginMethods(); !reflect.DeepEqual(m, wantMethods) {
		t.Errorf("OriginMethods() = %v, want %v", m, wantMethods)
	}
	wantEntry := map[string]ws.PINEntry{"http://127.0.0.1:8080": ws.PINEntryAgent}
	if m := got.OriginPINEntry(); !reflect.DeepEqual(m, wantEntry) {
		t.Errorf("OriginPINEntry() = %v, want %v", m, wantEntry)
	}
}

// TestLoadConfigInline checks the inline spellings of tables and arrays of tables.
func TestLoadConfigInline(t *testing.T) {
	path := writeConfig(t, `tls = { cert = "c.pem", key = "k.pem" }
media = [
  { name = "a", match_label = "^a" },
  { name = "b", legacy = true, upgrade_to = "a", carry_over_months = 0 },
]
origin = [{ origin = "https://x.example", methods = ["sign"] }]
`)
	got, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if got.TLS != (TLS{Cert: "c.pem", Key: "k.pem"}) {
		t.Errorf("TLS = %+v", got.TLS)
	}
	wantMedia := []agent.MediaProfile{
		{Name: "a", CarryOverMonths: 12, MatchLabel: regexp.MustCompile("^a")},
		{Name: "b", Legacy: true, UpgradeTo: "a", CarryOverMonths: 0},
	}
	if !reflect.DeepEqual(got.Media, wantMedia) {
		t.Errorf("Media = %+v, want %+v", got.Media, wantMedia)
	}
	wantOrigins := []OriginPolicy{{Origin: "https://x.example", Methods: []string{"sign"}}}
	if !reflect.DeepEqual(got.Origins, wantOrigins) {
		t.Errorf("Origins = %+v, want %+v", got.Origins, wantOrigins)
	}
}

func TestLoadConfigAllowNoOrigin(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want bool
	}{
		{"", true},
		{"allow_no_origin = true\n", true},
		{"allow_no_origin = false\n", false},
	} {
		c, err := Load(writeConfig(t, tc.doc), Overrides{})
		if err != nil {
			t.Fatalf("%q: %v", tc.doc, err)
		}
		if c.AllowNoOrigin != tc.want {
			t.Errorf("%q: AllowNoOrigin = %v, want %v", tc.doc, c.AllowNoOrigin, tc.want)
		}
	}
}

// TestLoadConfigLimits checks that the bounds themselves are accepted.
func TestLoadConfigLimits(t *testing.T) {
	path := writeConfig(t, `max_connections = 1
max_connections_per_origin = 1
max_message_bytes = 1024
idle_timeout = "0s"
renew_before_days = 0
poll_interval = "100ms"
audit_max_bytes = 65536
audit_keep = 1000
[[media]]
name = "a"
carry_over_months = 0
[[media]]
name = "b"
carry_over_months = 120
`)
	c, err := Load(path, Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != 1 || c.MaxConnectionsPerOrigin != 1 || c.MaxMessageBytes != 1024 || c.IdleTimeout != 0 ||
		c.AuditMaxBytes != 65536 || c.AuditKeep != 1000 || c.RenewBeforeDays != 0 || c.PollInterval != 100*time.Millisecond ||
		c.Media[0].CarryOverMonths != 0 || c.Media[1].CarryOverMonths != 120 {
		t.Errorf("limits not kept: %+v", c)
	}
	c, err = Load(writeConfig(t, "poll_interval = \"1h\"\n"), Overrides{})
	if err != nil || c.PollInterval != time.Hour {
		t.Errorf("poll_interval 1h: %v, %v", c.PollInterval, err)
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	file := `listen = "127.0.0.1:1000"
modules = ["/file/a.so", "/file/b.so"]
allowed_origins = ["https://file.example"]
max_connections = 7
`
	tests := []struct {
		name        string
		doc         string // "" for no file
		o           Overrides
		wantListen  string
		wantModules []string
		wantOrigins []string
	}{
		{
			name:        "file only",
			doc:         file,
			wantListen:  "127.0.0.1:1000",
			wantModules: []string{"/file/a.so", "/file/b.so"},
			wantOrigins: []string{"https://file.example"},
		},
		{
			name:        "flags replace the file",
			doc:         file,
			o:           Overrides{Listen: "[::1]:0", Modules: []string{"/flag/x.so"}, AllowOrigins: []string{"HTTPS://Flag.Example:443", "http://flag.example:81"}},
			wantListen:  "[::1]:0",
			wantModules: []string{"/flag/x.so"},
			wantOrigins: []string{"https://flag.example", "http://flag.example:81"},
		},
		{
			name:        "only --listen",
			doc:         file,
			o:           Overrides{Listen: "localhost:2000"},
			wantListen:  "localhost:2000",
			wantModules: []string{"/file/a.so", "/file/b.so"},
			wantOrigins: []string{"https://file.example"},
		},
		{
			name:        "only the lists",
			doc:         file,
			o:           Overrides{Modules: []string{"/m1.so", "/m2.so", "/m1.so"}, AllowOrigins: []string{"https://o.example"}},
			wantListen:  "127.0.0.1:1000",
			wantModules: []string{"/m1.so", "/m2.so"},
			wantOrigins: []string{"https://o.example"},
		},
		{
			name:        "flags without a file",
			o:           Overrides{Listen: "127.0.0.1:0", Modules: []string{"/m.so"}, AllowOrigins: []string{"http://localhost:80"}},
			wantListen:  "127.0.0.1:0",
			wantModules: []string{"/m.so"},
			wantOrigins: []string{"http://localhost"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.doc != "" {
				path = writeConfig(t, tc.doc)
			}
			c, err := Load(path, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.wantListen {
				t.Errorf("Listen = %q, want %q", c.Listen, tc.wantListen)
			}
			if !reflect.DeepEqual(c.Modules, tc.wantModules) {
				t.Errorf("Modules = %q, want %q", c.Modules, tc.wantModules)
			}
			if !reflect.DeepEqual(c.AllowedOrigins, tc.wantOrigins) {
				t.Errorf("AllowedOrigins = %q, want %q", c.AllowedOrigins, tc.wantOrigins)
			}
			if tc.doc != "" && c.MaxConnections != 7 {
				t.Errorf("MaxConnections = %d, want the file's 7", c.MaxConnections)
			}
		})
	}
}

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"HTTPS://CA.Example.com:443", "https://ca.example.com"},
		{"https://ca.example.com", "https://ca.example.com"},
		{"https://ca.example.com/", "https://ca.example.com"},
		{"http://localhost:80", "http://localhost"},
		{"http://localhost:443", "http://localhost:443"},
		{"https://localhost:80", "https://localhost:80"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"https://[::1]:443", "https://[::1]"},
		{"https://[0:0:0:0:0:0:0:1]:8443", "https://[::1]:8443"},
		{"http://Shop.Example:00081", "http://shop.example:81"},

		{"ca.example.com", ""},
		{"localhost:8080", ""},
		{"//ca.example.com", ""},
		{"ftp://x", ""},
		{"ws://x", ""},
		{"https://x/path", ""},
		{"https://x//", ""},
		{"https://x?q=1", ""},
		{"https://x?", ""},
		{"https://x#f", ""},
		{"https://u@x", ""},
		{"https://u:p@x", ""},
		{"null", ""},
		{"NULL", ""},
		{"", ""},
		{"https://", ""},
		{"https://:443", ""},
		{"https:x", ""},
		{"https://x:", ""},
		{"https://x:0", ""},
		{"https://x:65536", ""},
		{"https://x:abc", ""},
		{"https://[fe80::1%25eth0]", ""},
		{"https://bücher.example", ""},
		{"https://a b", ""},
		{" https://x", ""},
	}
	for _, tc := range tests {
		got, err := NormalizeOrigin(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("NormalizeOrigin(%q) = %q, want an error", tc.in, got)
		case tc.want != "" && err != nil:
			t.Errorf("NormalizeOrigin(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("NormalizeOrigin(%q) = %q, want %q", tc.in, got, tc.want)
		case err != nil && !strings.HasPrefix(err.Error(), "origin "):
			t.Errorf("NormalizeOrigin(%q) error %q does not name the origin", tc.in, err)
		case err == nil:
			// The server normalises the Origin header with ws.NormalizeOrigin
			// and compares: both must agree on every origin the config takes.
			if n, err := ws.NormalizeOrigin(tc.in); err != nil || n != got {
				t.Errorf("ws.NormalizeOrigin(%q) = %q, %v; the config has %q", tc.in, n, err, got)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want string // FILE stands for the file's path
	}{
		// Syntax: the problem in the TOML library's words, with the file,
		// the line and, inside a key/value, the key.
		{"unterminated string", "# c\nlisten = \"127.0.0.1:1\n",
			`config FILE:2: key "listen": basic strings cannot have new lines`},
		{"missing value", "a = 1\nlisten = \n",
			`config FILE:2: key "listen": unexpected character U+000A at start of value`},
		{"bad table header", "listen = \"127.0.0.1:1\"\n[tls\ncert = \"x\"\n",
			`config FILE:2: expected ']' to close table name`},
		{"duplicate key", "listen = \"127.0.0.1:1\"\nlisten = \"127.0.0.1:2\"\n",
			`config FILE:2: key "listen": key listen is already defined`},
		{"after a byte order mark", "\ufeff# c\nlisten = \n",
			`config FILE:2: key "listen": unexpected character U+000A at start of value`},
		{"integer overflow", "\nmax_connections = 99999999999999999999\n",
			`config FILE:2: key "max_connections": decimal number is too large to fit in a 64-bit signed integer`},

		// Types.
		{"string for integer", "listen = \"127.0.0.1:1\"\nmax_connections = \"a\"\n",
			`config FILE:2: key "max_connections": expected integer, found string`},
		{"float for integer", "\n\nmax_message_bytes = 2048.5\n",
			`config FILE:3: key "max_message_bytes": expected integer, found float`},
		{"string for boolean", "allow_no_origin = \"yes\"\n",
			`config FILE:1: key "allow_no_origin": expected boolean, found string`},
		{"integer for duration", "poll_interval = 1\n",
			`config FILE:1: key "poll_interval": expected duration string such as "1s", found integer`},
		{"string for list", "\nmodules = \"/usr/lib/a.so\"\n",
			`config FILE:2: key "modules": expected array of strings, found string`},
		{"integer in list", "modules = [\n  \"/a.so\",\n  3,\n]\n",
			`config FILE:3: key "modules": expected string, found integer`},
		{"string for table", "\ntls = \"x\"\n",
			`config FILE:2: key "tls": expected table, found string`},
		{"table for array of tables", "[media]\nname = \"x\"\n",
			`config FILE:1: key "media": expected array of tables, found table`},
		{"string for array of tables", "\norigin = \"https://x\"\n",
			`config FILE:2: key "origin": expected array of tables, found string`},
		{"type in second media", "[[media]]\nname = \"a\"\nlegacy = true\n\n[[media]]\nname = \"b\"\nlegacy = \"yes\"\n",
			`config FILE:7: key "media.legacy": expected boolean, found string`},
		{"number among inline media", "media = [\n  { name = \"a\" },\n  1,\n]\n",
			`config FILE:3: key "media": expected table, found integer`},
		{"integer for origin", "[[origin]]\norigin = 1\n",
			`config FILE:2: key "origin.origin": expected string, found integer`},
		{"string for methods", "[[origin]]\norigin = \"https://a\"\nmethods = \"sign\"\n",
			`config FILE:3: key "origin.methods": expected array of strings, found string`},
		{"type in tls", "[tls]\ncert = 1\n",
			`config FILE:2: key "tls.cert": expected string, found integer`},

		// Unknown keys.
		{"unknown key", "listen = \"127.0.0.1:1\"\npol_interval = \"1s\"\n",
			`config FILE:2: key "pol_interval": unknown key (did you mean "poll_interval"?)`},
		{"unknown key far from any", "\n\nfrobnicate = 1\n",
			`config FILE:3: key "frobnicate": unknown key`},
		{"key with wrong case", "Listen = \"127.0.0.1:1\"\n",
			`config FILE:1: key "Listen": unknown key (did you mean "listen"?)`},
		{"unknown table", "[server]\nport = 1\n",
			`config FILE:1: key "server": unknown key`},
		{"unknown key in tls", "[tls]\ncert = \"c\"\nkey = \"k\"\nca = \"x\"\n",
			`config FILE:4: key "tls.ca": unknown key`},
		{"unknown dotted key", "tls.cert = \"c\"\ntls.key = \"k\"\ntls.chain = \"x\"\n",
			`config FILE:3: key "tls.chain": unknown key`},
		{"unknown key in first media", "[[media]]\nname = \"a\"\nlable = \"x\"\n[[media]]\nname = \"b\"\nlable = \"y\"\n",
			"config FILE:3: key \"media.lable\": unknown key\nconfig FILE:6: key \"media.lable\": unknown key"},
		{"unknown key in second media", "[[media]]\nname = \"a\"\n[[media]]\nname = \"b\"\nmatch_labels = \"x\"\n",
			`config FILE:5: key "media.match_labels": unknown key (did you mean "match_label"?)`},
		{"top-level key after a table", "[[media]]\nname = \"a\"\npoll_interval = \"1s\"\n",
			`config FILE:3: key "media.poll_interval": unknown key (top-level keys go before the first [table])`},
		{"unknown key in origin", "[[origin]]\norigin = \"https://x\"\nmethod = [\"sign\"]\n",
			`config FILE:3: key "origin.method": unknown key (did you mean "methods"?)`},
		{"unknown key in inline media", "media = [\n  { name = \"a\" },\n  { name = \"b\", colour = \"blue\" },\n]\n",
			`config FILE:3: key "media.colour": unknown key`},

		// listen.
		{"listen without port", "listen = \"127.0.0.1\"\n",
			`config FILE:1: key "listen": invalid listen address "127.0.0.1": want host:port`},
		{"listen port out of range", "\nlisten = \"127.0.0.1:65536\"\n",
			`config FILE:2: key "listen": invalid listen address "127.0.0.1:65536": port must be a number from 0 to 65535`},
		{"listen named port", "listen = \"127.0.0.1:http\"\n",
			`config FILE:1: key "listen": invalid listen address "127.0.0.1:http": port must be a number from 0 to 65535`},
		{"listen bad host", "listen = \"bad host:1\"\n",
			`config FILE:1: key "listen": invalid listen address "bad host:1": bad host "bad host"`},

		// Origins.
		{"bad allowed origin", "allowed_origins = [\n  \"https://ok.example\",\n  \"https://x/path\",\n]\n",
			`config FILE:3: key "allowed_origins": origin "https://x/path": has a path, query or fragment`},
		{"null allowed origin", "allowed_origins = [\"null\"]\n",
			`config FILE:1: key "allowed_origins": origin "null": opaque or empty origin`},
		{"origin without scheme", "[[origin]]\norigin = \"ca.example.com\"\n",
			`config FILE:2: key "origin.origin": origin "ca.example.com": not scheme://host[:port]`},
		{"origin missing", "[[origin]]\norigin = \"https://a\"\n[[origin]]\nmethods = [\"sign\"]\n",
			`config FILE:3: key "origin.origin": required in every [[origin]] table`},
		{"origin duplicate after normalising", "[[origin]]\norigin = \"https://a\"\n[[origin]]\norigin = \"HTTPS://A:443\"\n",
			`config FILE:4: key "origin.origin": origin https://a already has an [[origin]] table at line 2`},
		{"unknown method", "[[origin]]\norigin = \"https://a\"\nmethods = [\n  \"sign\",\n  \"sign.all\",\n]\n",
			`config FILE:5: key "origin.methods": unknown method "sign.all"`},
		{"empty methods", "[[origin]]\norigin = \"https://a\"\nmethods = []\n",
			`config FILE:3: key "origin.methods": empty; leave the key out to allow every method`},

		// Limits.
		{"max_connections zero", "max_connections = 0\n",
			`config FILE:1: key "max_connections": must be at least 1, not 0`},
		{"max_message_bytes small", "\nmax_message_bytes = 1023\n",
			`config FILE:2: key "max_message_bytes": must be at least 1024, not 1023`},
		{"max_connections_per_origin zero", "max_connections_per_origin = 0\n",
			`config FILE:1: key "max_connections_per_origin": must be at least 1, not 0`},
		{"idle_timeout too short", "idle_timeout = \"5s\"\n",
			`config FILE:1: key "idle_timeout": must be 0 (never) or between 10s and 24h, not 5s`},
		{"idle_timeout too long", "idle_timeout = \"25h\"\n",
			`config FILE:1: key "idle_timeout": must be 0 (never) or between 10s and 24h, not 25h0m0s`},
		{"consent_timeout too short", "consent_timeout = \"2s\"\n",
			`config FILE:1: key "consent_timeout": must be between 10s and 1h, not 2s`},
		{"pin_entry unknown", "[[origin]]\norigin = \"https://a.example\"\npin_entry = \"portal\"\n",
			`config FILE:3: key "origin.pin_entry": must be "page", "agent" or "either", not "portal"`},
		{"audit_max_bytes small", "audit_max_bytes = 65535\n",
			`config FILE:1: key "audit_max_bytes": must be at least 65536, not 65535`},
		{"audit_keep zero", "audit_keep = 0\n",
			`config FILE:1: key "audit_keep": must be at least 1, not 0`},
		{"audit_keep large", "audit_keep = 1001\n",
			`config FILE:1: key "audit_keep": must be at most 1000, not 1001`},
		{"state_dir not a string", "state_dir = 1\n",
			`config FILE:1: key "state_dir": expected string, found integer`},
		{"renew_before_days negative", "renew_before_days = -1\n",
			`config FILE:1: key "renew_before_days": must be at least 0, not -1`},
		{"invalid duration", "\n\n\n\n\n\npoll_interval = \"1x\"\n",
			`config FILE:7: key "poll_interval": invalid duration "1x"`},
		{"poll_interval too short", "poll_interval = \"99ms\"\n",
			`config FILE:1: key "poll_interval": must be between 100ms and 1h, not 99ms`},
		{"poll_interval too long", "poll_interval = \"61m\"\n",
			`config FILE:1: key "poll_interval": must be between 100ms and 1h, not 1h1m0s`},
		{"empty module", "modules = [\"/a.so\", \"\"]\n",
			`config FILE:1: key "modules": empty module path`},

		// TLS.
		{"tls cert without key", "[tls]\ncert = \"c.pem\"\n",
			`config FILE:2: key "tls.cert": set without tls.key; give both or neither`},
		{"tls key without cert", "[tls]\ncert = \"\"\nkey = \"k.pem\"\n",
			`config FILE:3: key "tls.key": set without tls.cert; give both or neither`},
		{"inline tls cert without key", "\ntls = { cert = \"c.pem\" }\n",
			`config FILE:2: key "tls.cert": set without tls.key; give both or neither`},

		// Media.
		{"media without name", "[[media]]\nname = \"a\"\n\n[[media]]\nlegacy = false\n",
			`config FILE:4: key "media.name": required in every [[media]] table`},
		{"media empty name", "[[media]]\nname = \"\"\n",
			`config FILE:2: key "media.name": must not be empty`},
		{"bad regex in first media", "[[media]]\nname = \"a\"\nmatch_label = \"(\"\n[[media]]\nname = \"b\"\nmatch_label = \"ok\"\n",
			"config FILE:3: key \"media.match_label\": invalid regular expression \"(\": missing closing ): `(`"},
		{"bad regex in second inline media", "media = [\n  { name = \"a\", match_atr = \"3b\" },\n  { name = \"b\", match_atr = \"[\" },\n]\n",
			"config FILE:3: key \"media.match_atr\": invalid regular expression \"[\": missing closing ]: `[`"},
		{"perl regex", "[[media]]\nname = \"a\"\nmatch_model = \"(?<=x)y\"\n",
			"config FILE:3: key \"media.match_model\": invalid regular expression \"(?<=x)y\": invalid named capture: `(?<=x)y`"},
		{"carry_over_months too big", "[[media]]\nname = \"a\"\nlegacy = true\ncarry_over_months = 121\n",
			`config FILE:4: key "media.carry_over_months": must be at most 120, not 121`},
		{"carry_over_months negative", "[[media]]\nname = \"a\"\ncarry_over_months = -1\n",
			`config FILE:3: key "media.carry_over_months": must be at least 0, not -1`},
		{"upgrade_to without legacy", "[[media]]\nname = \"a\"\nupgrade_to = \"b\"\n",
			`config FILE:3: key "media.upgrade_to": set but legacy is not true; only legacy media are upgraded`},
		{"upgrade_to with legacy false", "[[media]]\nname = \"a\"\nlegacy = false\nupgrade_to = \"b\"\n",
			`config FILE:4: key "media.upgrade_to": set but legacy is not true; only legacy media are upgraded`},

		// Lines after multi-line values.
		{"after multi-line strings", "audit_log = \"\"\"\n/var/log/\"\"\"\"\"\n[[media]]\nname = '''a\n'b'\n'''\ndescription = \"x \\\" # [y]\"\nmatch_label = \"(\"\n",
			"config FILE:8: key \"media.match_label\": invalid regular expression \"(\": missing closing ): `(`"},

		// Several problems, in line order.
		{"several", "poll_interval = \"1x\"\nmax_connections = 0\n[tls]\nkey = \"k\"\n",
			"config FILE:1: key \"poll_interval\": invalid duration \"1x\"\n" +
				"config FILE:2: key \"max_connections\": must be at least 1, not 0\n" +
				"config FILE:4: key \"tls.key\": set without tls.cert; give both or neither"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.doc)
			c, err := Load(path, Overrides{})
			if got := errText(err, path); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("loadConfig returned a config with its error: %+v", c)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != path || ce.Line == 0 {
				t.Errorf("error %#v is not a *Error with the file and line", err)
			}
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path, Overrides{})
	if got, want := errText(err, path), "config FILE: no such file or directory"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v is not fs.ErrNotExist", err)
	}
}

func TestLoadConfigFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Overrides
		want string
	}{
		{"listen", Overrides{Listen: "127.0.0.1"},
			`flag --listen: invalid listen address "127.0.0.1": want host:port`},
		{"module", Overrides{Modules: []string{"/a.so", ""}},
			`flag --module: empty module path`},
		{"origin", Overrides{AllowOrigins: []string{"https://ok", "ftp://x"}},
			`flag --allow-origin: origin "ftp://x": scheme must be http or https`},
		{"file and flag", Overrides{Listen: "x"},
			"config FILE:1: key \"max_connections\": must be at least 1, not 0\n" +
				`flag --listen: invalid listen address "x": want host:port`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if strings.Contains(tc.want, "FILE") {
				path = writeConfig(t, "max_connections = 0\n")
			}
			_, err := Load(path, tc.o)
			if got := errText(err, path); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestListen(t *testing.T) {
	tests := []struct {
		addr        string
		nonLoopback bool
	}{
		{"127.0.0.1:24321", false},
		{"127.0.0.1:0", false},
		{"127.1.2.3:80", false},
		{"[::1]:24321", false},
		{"localhost:24321", false},
		{"LocalHost:1", false},
		{"[::ffff:127.0.0.1]:1", false},
		{"0.0.0.0:24321", true},
		{":24321", true},
		{"[::]:24321", true},
		{"192.168.1.10:24321", true},
		{"10.0.0.1:1", true},
		{"[fe80::1%eth0]:1", true},
		{"example.com:24321", true},
		{"localhost.localdomain:1", true},
	}
	for _, tc := range tests {
		if err := CheckListenAddr(tc.addr); err != nil {
			t.Errorf("CheckListenAddr(%q): %v", tc.addr, err)
		}
		if got := (Config{Listen: tc.addr}).NonLoopback(); got != tc.nonLoopback {
			t.Errorf("Config{Listen: %q}.NonLoopback() = %v, want %v", tc.addr, got, tc.nonLoopback)
		}
		// The file and the flag may both ask for it.
		c, err := Load(writeConfig(t, "listen = '"+tc.addr+"'\n"), Overrides{})
		if err != nil || c.Listen != tc.addr || c.NonLoopback() != tc.nonLoopback {
			t.Errorf("file listen %q: Listen %q, NonLoopback %v, error %v", tc.addr, c.Listen, c.NonLoopback(), err)
		}
		c, err = Load("", Overrides{Listen: tc.addr})
		if err != nil || c.Listen != tc.addr || c.NonLoopback() != tc.nonLoopback {
			t.Errorf("flag --listen %q: Listen %q, NonLoopback %v, error %v", tc.addr, c.Listen, c.NonLoopback(), err)
		}
	}
	for _, addr := range []string{"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:65536", "127.0.0.1:http", "::1:80", "bad host:1", "a..b:1"} {
		if err := CheckListenAddr(addr); err == nil {
			t.Errorf("CheckListenAddr(%q) accepted", addr)
		}
	}
}

func TestKeyLines(t *testing.T) {
	doc := "\ufeff" + `# comment with "quotes" and [brackets]
listen = "127.0.0.1:1" # trailing
modules = [
  "/a.so", # one
  '/b.so',
]
"quoted key" = 1
dotted.key = 2
ml = """
x = 1
[not.a.table]
"""
[tls]
cert = 'c'
[[media]]
name = "a"
[media.sub]
deep = 1
[[media]]
name = "b"
inline = { x = 1, y = [
  2,
  { z = 3 },
] }
[[media.nested]]
n = 1
[[media.nested]]
n = 2
when = 1979-05-27 07:32:00Z
esc = """a\
  b \""" c"""
after = 1
"k\u0065y" = 1
'lit.key' = 1
`
	body := []byte(strings.TrimPrefix(doc, "\ufeff")) // as decodeFile gives it
	var parsed map[string]any
	if err := toml.Unmarshal(body, &parsed); err != nil {
		t.Fatalf("test document does not parse: %v", err)
	}
	lines := keyLines(body)
	var root keyPath
	media := root.key("media")
	tests := []struct {
		p    keyPath
		line int
	}{
		{root.key("listen"), 2},
		{root.key("modules"), 3},
		{root.key("modules").index(0), 4},
		{root.key("modules").index(1), 5},
		{root.key("quoted key"), 7},
		{root.key("dotted"), 8},
		{root.key("dotted").key("key"), 8},
		{root.key("ml"), 9},
		{root.key("tls"), 13},
		{root.key("tls").key("cert"), 14},
		{media, 15},
		{media.index(0), 15},
		{media.index(0).key("name"), 16},
		{media.index(0).key("sub"), 17},
		{media.index(0).key("sub").key("deep"), 18},
		{media.index(1), 19},
		{media.index(1).key("name"), 20},
		{media.index(1).key("inline"), 21},
		{media.index(1).key("inline").key("y").index(0), 22},
		{media.index(1).key("inline").key("y").index(1).key("z"), 23},
		{media.index(1).key("nested").index(0).key("n"), 26},
		{media.index(1).key("nested").index(1), 27},
		{media.index(1).key("nested").index(1).key("n"), 28},
		{media.index(1).key("nested").index(1).key("when"), 29},
		{media.index(1).key("nested").index(1).key("esc"), 30},
		{media.index(1).key("nested").index(1).key("after"), 32},
		{media.index(1).key("nested").index(1).key("key"), 33},
		{media.index(1).key("nested").index(1).key("lit.key"), 34},
	}
	for _, tc := range tests {
		if got, ok := lines[tc.p.id()]; !ok || got != tc.line {
			t.Errorf("line of %s %q = %d (found %v), want %d", tc.p, tc.p.id(), got, ok, tc.line)
		}
	}
	for _, bogus := range []keyPath{root.key("x"), root.key("not"), root.key("media").index(2)} {
		if l, ok := lines[bogus.id()]; ok {
			t.Errorf("found key %s at line %d, which is not a key", bogus, l)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "/etc/tokenagent/config.toml", Line: 7, Key: "poll_interval", Err: errors.New(`invalid duration "1x"`)},
			`config /etc/tokenagent/config.toml:7: key "poll_interval": invalid duration "1x"`},
		{Error{File: "c.toml", Line: 3, Err: errors.New("bad")}, "config c.toml:3: bad"},
		{Error{File: "c.toml", Err: errors.New("bad")}, "config c.toml: bad"},
		{Error{Key: "--listen", Err: errors.New("bad")}, "flag --listen: bad"},
	}
	for _, tc := range tests {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
