package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzConfig loads any bytes as the config file. It checks that the result
// is a config or errors, never both, never a panic; that every error names
// the file and a line of it, in line order, and, past the TOML syntax, the
// key; that a config loaded holds only what the loader promises (origins
// normalised and unique, modules unique and not empty, values in their
// ranges, TLS both or neither, media named); and that keyLines puts no key
// on a line the file does not have.
func FuzzConfig(f *testing.F) {
	for _, seed := range []string{
		fullConfig,
		protocolExample,
		"",
		"\ufefflisten = \"127.0.0.1:1\"\n",
		"listen = \"127.0.0.1:1\r\n",
		"[tls\ncert = \"x\"\n",
		"media = [{ name = \"a\", match_label = \"(\" }, 1]\n",
		"[[origin]]\norigin = \"https://a.example\"\n[[origin]]\norigin = \"HTTPS://A.EXAMPLE:443\"\nmethods = []\n",
		"a.\"b.c\".'d' = { e = [1, [2, {f = 3}]] }\n[x.\"y\"]\n[[x.y.z]]\n",
		"s = \"\"\"\nline\\\n  \"\"\"\"\"\nt = '''\n'''\n",
		"listen = \"[::1]:0\"\nmax_message_bytes = 1023\npoll_interval = \"1h1ns\"\n",
		"\xff = 1\n",
	} {
		f.Add([]byte(seed))
	}
	// Each fuzzing process runs one input at a time, so one file will do.
	path := filepath.Join(f.TempDir(), "config.toml")
	f.Fuzz(func(t *testing.T, doc []byte) {
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		c := Default()
		errs := c.loadFile(path)
		lines := strings.Count(string(doc), "\n") + 1
		body := bytes.TrimPrefix(doc, bom)
		var raw map[string]any
		syntaxErr := toml.Unmarshal(body, &raw)
		for i, e := range errs {
			if e.File != path || e.Line < 1 || e.Line > lines || e.Err == nil {
				t.Fatalf("%q: error %q names file %q line %d (of %d)", doc, e, e.File, e.Line, lines)
			}
			if prefix := "config " + path + ":" + strconv.Itoa(e.Line) + ": "; !strings.HasPrefix(e.Error(), prefix) {
				t.Fatalf("%q: error %q does not start with %q", doc, e, prefix)
			}
			if syntaxErr == nil && e.Key == "" {
				t.Fatalf("%q: error %q names no key", doc, e)
			}
			if i > 0 && errs[i-1].Line > e.Line {
				t.Fatalf("%q: errors out of line order: %v", doc, errs)
			}
		}
		if syntaxErr != nil {
			if len(errs) != 1 {
				t.Fatalf("%q: %d errors for a syntax error, want 1", doc, len(errs))
			}
		} else {
			checkKeyLines(t, body, lines)
		}
		if len(errs) == 0 {
			checkLoaded(t, doc, c)
		}
	})
}

// checkKeyLines checks the lines keyLines finds for a document that parses.
func checkKeyLines(t *testing.T, doc []byte, lines int) {
	t.Helper()
	for id, l := range keyLines(doc) {
		if l < 1 || l > lines {
			t.Fatalf("%q: key %q on line %d (of %d)", doc, id, l, lines)
		}
	}
}

// checkLoaded checks what loadFile promises of a config it loaded.
func checkLoaded(t *testing.T, doc []byte, c Config) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%q: "+format, append([]any{doc}, args...)...)
	}
	if err := CheckListenAddr(c.Listen); err != nil {
		fail("listen: %v", err)
	}
	if unique(c.Modules) != nil || slices.Contains(c.Modules, "") {
		fail("modules %q: empty or duplicate path", c.Modules)
	}
	var origins []string
	for _, o := range c.Origins {
		origins = append(origins, o.Origin)
		if o.Methods != nil && len(o.Methods) == 0 || unique(o.Methods) != nil {
			fail("origin %s: methods %q", o.Origin, o.Methods)
		}
		for _, m := range o.Methods {
			if !slices.Contains(methodNames, m) {
				fail("origin %s: unknown method %q", o.Origin, m)
			}
		}
		if o.PINEntry != "" && !slices.Contains(pinEntries, o.PINEntry) {
			fail("origin %s: pin_entry %q", o.Origin, o.PINEntry)
		}
	}
	for _, list := range [][]string{c.AllowedOrigins, origins} {
		if dup := unique(list); dup != nil {
			fail("origin %q twice", *dup)
		}
		for _, o := range list {
			if n, err := NormalizeOrigin(o); err != nil || n != o {
				fail("origin %q is not normalised (%q, %v)", o, n, err)
			}
		}
	}
	switch {
	case c.MaxConnections < 1, c.MaxMessageBytes < MinMaxMessageBytes, c.RenewBeforeDays < 0,
		c.PollInterval < MinPollInterval, c.PollInterval > MaxPollInterval,
		c.ConsentTimeout < MinConsentTimeout, c.ConsentTimeout > MaxConsentTimeout:
		fail("a limit out of range: %+v", c)
	case (c.TLS.Cert == "") != (c.TLS.Key == ""):
		fail("tls %+v: one of cert and key", c.TLS)
	}
	for _, m := range c.Media {
		if m.Name == "" || m.CarryOverMonths < 0 || m.CarryOverMonths > MaxCarryOverMonths || m.UpgradeTo != "" && !m.Legacy {
			fail("media %+v", m)
		}
	}
}

// unique returns the first value that occurs twice in list, or nil.
func unique(list []string) *string {
	for i, s := range list {
		if slices.Contains(list[:i], s) {
			return &list[i]
		}
	}
	return nil
}

// protocolExample is the configuration example of PROTOCOL.md section 6.
const protocolExample = `listen = "127.0.0.1:24321"
modules = []                    # PKCS#11 module paths; empty = known modules found on this system
allowed_origins = ["https://ca.example.com"]
allow_no_origin = true
max_connections = 256
max_connections_per_origin = 32 # extension: one origin's share (local programs one, own origins one)
idle_timeout = "5m"             # extension: close connections idle this long; "0s": never
max_message_bytes = 8388608
renew_before_days = 30
poll_interval = "1s"            # PKCS#11 slot polling, for modules without slot events
audit_log = ""                  # JSON lines; empty = next to the service's state directory
audit_max_bytes = 16777216      # extension: the audit log is rotated before it grows past this
audit_keep = 4                  # extension: rotated audit logs kept (audit.log.1 … audit.log.4)
state_dir = ""                  # extension: the agent's state directory; empty = the standard place
consent_timeout = "120s"        # extension: how long the consent page waits for each answer (section 7)
[tls]                           # optional; both or neither
cert = ""
key = ""
[[origin]]                      # optional per-origin method allow-list (default: all methods)
origin = "https://shop.example.com"
methods = ["agent.info","tokens.list","certs.list","sign"]
pin_entry = "either"            # extension: "page", "agent" or "either" (section 7)
[[media]]                       # media catalogue: first match wins
name = "cpp-blue"
description = "Legacy CPP media"
legacy = true
upgrade_to = "bjca"
carry_over_months = 12
match_manufacturer = ""         # regular expressions; empty matches anything
match_model = ""
match_label = "^legacy-"
match_atr = ""                  # against the lowercase hex ATR
`
