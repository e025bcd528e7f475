package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/ws"
)

// Config is the agent's configuration after defaults, file and command line.
// See section 6 of PROTOCOL.md for the file format.
type Config struct {
	Listen          string   // host:port; see NonLoopback
	Modules         []string // PKCS#11 module paths; empty: the known modules found on this system
	AllowedOrigins  []string // normalised (see normalizeOrigin), without duplicates
	AllowNoOrigin   bool
	MaxConnections  int
	MaxMessageBytes int64
	RenewBeforeDays int
	PollInterval    time.Duration
	AuditLog        string         // as given; empty means the default, resolved elsewhere
	TLS             TLSConfig      // both fields set, or neither
	Origins         []OriginPolicy // per-origin method allow-lists, in file order
	Media           []agent.MediaProfile
}

// TLSConfig names the certificate and key files to serve HTTPS/WSS with.
// Both are set, or neither is (plain HTTP/WS).
type TLSConfig struct {
	Cert string
	Key  string
}

// OriginPolicy restricts the methods one origin may call.
type OriginPolicy struct {
	Origin  string   // normalised
	Methods []string // protocol method names; nil when the file leaves methods out: every method
}

// overrides are the command-line flags that override the config file. An
// empty field was not given; the repeatable flags replace the file's list.
type overrides struct {
	Listen       string   // --listen
	Modules      []string // --module
	AllowOrigins []string // --allow-origin
}

// Defaults and limits of the configuration.
const (
	defaultListen          = "127.0.0.1:24321"
	defaultMaxConnections  = 256
	defaultMaxMessageBytes = 8 << 20
	defaultRenewBeforeDays = 30
	defaultPollInterval    = time.Second
	defaultCarryOverMonths = 12

	minMaxMessageBytes = 1024
	minPollInterval    = 100 * time.Millisecond
	maxPollInterval    = time.Hour
	maxCarryOverMonths = 120
)

// configMethodNames are the protocol's methods, which [[origin]] methods may name.
var configMethodNames = []string{
	"agent.info", "tokens.list", "certs.list", "lifetime.check", "media.check",
	"keys.generate", "csr.create", "certs.import", "objects.delete",
	"renewal.prepare", "renewal.complete", "pin.change", "pin.unlock",
	"sign", "sign.batch", "events.subscribe",
}

// configTopKeys are the keys of the file's top-level table.
var configTopKeys = []string{
	"listen", "modules", "allowed_origins", "allow_no_origin",
	"max_connections", "max_message_bytes", "renew_before_days", "poll_interval",
	"audit_log", "tls", "origin", "media",
}

// defaultConfig returns the configuration used when neither the file nor the
// command line says otherwise.
func defaultConfig() Config {
	return Config{
		Listen:          defaultListen,
		AllowNoOrigin:   true,
		MaxConnections:  defaultMaxConnections,
		MaxMessageBytes: defaultMaxMessageBytes,
		RenewBeforeDays: defaultRenewBeforeDays,
		PollInterval:    defaultPollInterval,
	}
}

// NonLoopback reports whether the agent would listen on an address other
// computers may reach: any host but 127.0.0.0/8, ::1 and localhost
// (an empty host means every interface). The defaults never do; the caller
// logs a warning when the file or the command line asked for it.
func (c Config) NonLoopback() bool {
	return !listenIsLoopback(c.Listen)
}

// originMethods returns, for each origin with an [[origin]] allow-list, the
// methods it may call. Origins absent from the map may call every method.
func (c Config) originMethods() map[string][]string {
	var m map[string][]string
	for _, o := range c.Origins {
		if len(o.Methods) == 0 {
			continue // every method
		}
		if m == nil {
			m = make(map[string][]string)
		}
		m[o.Origin] = slices.Clone(o.Methods)
	}
	return m
}

// ConfigError is a problem with the configuration file or a command-line flag.
type ConfigError struct {
	File string // the config file; empty for a command-line flag
	Line int    // 1-based line in File; 0 when unknown
	Key  string // dotted TOML key ("media.match_label"), or the flag ("--listen"); may be empty
	Err  error
}

// Error formats e as `config FILE:LINE: key "KEY": problem`, or
// `flag --listen: problem`.
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File == "" {
		b.WriteString("flag ")
		b.WriteString(e.Key)
	} else {
		b.WriteString("config ")
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		if e.Key != "" {
			fmt.Fprintf(&b, ": key %q", e.Key)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// loadConfig reads the config file at path (empty path: defaults only) and
// applies the command-line overrides. Every problem found is reported, one
// *ConfigError each, ordered by line (joined with errors.Join when several).
func loadConfig(path string, o overrides) (Config, error) {
	c := defaultConfig()
	var errs []*ConfigError
	if path != "" {
		errs = c.loadFile(path)
	}
	errs = append(errs, c.applyOverrides(o)...)
	switch len(errs) {
	case 0:
		return c, nil
	case 1:
		return Config{}, errs[0]
	}
	joined := make([]error, len(errs))
	for i, e := range errs {
		joined[i] = e
	}
	return Config{}, errors.Join(joined...)
}

// loadFile applies the config file at path to c.
func (c *Config) loadFile(path string) []*ConfigError {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the file already
		}
		return []*ConfigError{{File: path, Err: err}}
	}
	doc := string(data)
	var raw map[string]any
	if _, err := toml.Decode(doc, &raw); err != nil {
		ce := &ConfigError{File: path, Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			ce.Line = parseErrorLine(doc, pe)
			ce.Key = pe.LastKey
			ce.Err = errors.New(tidyTOMLMessage(pe.Message))
		}
		return []*ConfigError{ce}
	}
	d := &configDecoder{file: path, lines: configKeyLines(doc)}
	d.decode(c, raw)
	slices.SortStableFunc(d.errs, func(a, b *ConfigError) int { return cmp.Compare(a.Line, b.Line) })
	return d.errs
}

// parseErrorLine returns the line of a syntax error. It counts the lines up
// to the error's offset, because the parser's line can be one too far when
// the error is at a line end ("[tls" without its "]").
func parseErrorLine(doc string, pe toml.ParseError) int {
	doc = strings.TrimPrefix(doc, "\ufeff") // offsets are after the BOM
	if pe.Position.Start > 0 && pe.Position.Start <= len(doc) {
		return strings.Count(doc[:pe.Position.Start], "\n") + 1
	}
	return pe.Position.Line
}

// tidyTOMLMessage puts a TOML parser message in our error style: no
// capital, no period.
func tidyTOMLMessage(msg string) string {
	msg = strings.TrimSuffix(strings.TrimSpace(msg), ".")
	if len(msg) > 1 && msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z' {
		msg = string(msg[0]+'a'-'A') + msg[1:]
	}
	return msg
}

// applyOverrides applies the command-line flags to c.
func (c *Config) applyOverrides(o overrides) []*ConfigError {
	var errs []*ConfigError
	flagErr := func(flag string, err error) {
		errs = append(errs, &ConfigError{Key: flag, Err: err})
	}
	if o.Listen != "" {
		if err := checkListenAddr(o.Listen); err != nil {
			flagErr("--listen", err)
		} else {
			c.Listen = o.Listen
		}
	}
	if len(o.Modules) > 0 {
		var mods []string
		for _, m := range o.Modules {
			if m == "" {
				flagErr("--module", errors.New("empty module path"))
				continue
			}
			if !slices.Contains(mods, m) {
				mods = append(mods, m)
			}
		}
		c.Modules = mods
	}
	if len(o.AllowOrigins) > 0 {
		var origins []string
		for _, s := range o.AllowOrigins {
			n, err := normalizeOrigin(s)
			if err != nil {
				flagErr("--allow-origin", err)
				continue
			}
			if !slices.Contains(origins, n) {
				origins = append(origins, n)
			}
		}
		c.AllowedOrigins = origins
	}
	return errs
}

// configDecoder turns the parsed file into a Config, collecting errors
// that name the line of the offending key.
type configDecoder struct {
	file  string
	lines map[string]int // cfgPath id → line; see configKeyLines
	errs  []*ConfigError
}

// errorf records a problem with the key at p.
func (d *configDecoder) errorf(p cfgPath, format string, args ...any) {
	d.errs = append(d.errs, &ConfigError{File: d.file, Line: d.line(p), Key: p.String(), Err: fmt.Errorf(format, args...)})
}

// line returns the line of the key at p, else of its closest ancestor
// (the table holding a missing key), else 0.
func (d *configDecoder) line(p cfgPath) int {
	for ; len(p) > 0; p = p[:len(p)-1] {
		if l, ok := d.lines[p.id()]; ok {
			return l
		}
	}
	return 0
}

// decode applies the top-level table m to c.
func (d *configDecoder) decode(c *Config, m map[string]any) {
	var root cfgPath
	d.checkKeys(root, m, configTopKeys...)

	if v, p, ok := field(root, m, "listen"); ok {
		if s, ok := d.str(p, v); ok {
			if err := checkListenAddr(s); err != nil {
				d.errorf(p, "%v", err)
			} else {
				c.Listen = s
			}
		}
	}
	if v, p, ok := field(root, m, "modules"); ok {
		if list, ok := d.strList(p, v); ok {
			c.Modules = nil
			for i, s := range list {
				switch {
				case s == "":
					d.errorf(p.index(i), "empty module path")
				case !slices.Contains(c.Modules, s):
					c.Modules = append(c.Modules, s)
				}
			}
		}
	}
	if v, p, ok := field(root, m, "allowed_origins"); ok {
		if list, ok := d.strList(p, v); ok {
			c.AllowedOrigins = nil
			for i, s := range list {
				n, err := normalizeOrigin(s)
				switch {
				case err != nil:
					d.errorf(p.index(i), "%v", err)
				case !slices.Contains(c.AllowedOrigins, n):
					c.AllowedOrigins = append(c.AllowedOrigins, n)
				}
			}
		}
	}
	if v, p, ok := field(root, m, "allow_no_origin"); ok {
		if b, ok := d.boolean(p, v); ok {
			c.AllowNoOrigin = b
		}
	}
	if v, p, ok := field(root, m, "max_connections"); ok {
		if n, ok := d.intRange(p, v, 1, math.MaxInt32); ok {
			c.MaxConnections = int(n)
		}
	}
	if v, p, ok := field(root, m, "max_message_bytes"); ok {
		if n, ok := d.intRange(p, v, minMaxMessageBytes, math.MaxInt64); ok {
			c.MaxMessageBytes = n
		}
	}
	if v, p, ok := field(root, m, "renew_before_days"); ok {
		if n, ok := d.intRange(p, v, 0, math.MaxInt32); ok {
			c.RenewBeforeDays = int(n)
		}
	}
	if v, p, ok := field(root, m, "poll_interval"); ok {
		if dur, ok := d.duration(p, v); ok {
			if dur < minPollInterval || dur > maxPollInterval {
				d.errorf(p, "must be between %v and 1h, not %v", minPollInterval, dur)
			} else {
				c.PollInterval = dur
			}
		}
	}
	if v, p, ok := field(root, m, "audit_log"); ok {
		if s, ok := d.str(p, v); ok {
			c.AuditLog = s
		}
	}
	if v, p, ok := field(root, m, "tls"); ok {
		if t, ok := d.table(p, v); ok {
			c.TLS = d.decodeTLS(p, t)
		}
	}
	if v, p, ok := field(root, m, "origin"); ok {
		if ts, ok := d.tableList(p, v); ok {
			c.Origins = d.decodeOrigins(p, ts)
		}
	}
	if v, p, ok := field(root, m, "media"); ok {
		if ts, ok := d.tableList(p, v); ok {
			c.Media = d.decodeMedia(p, ts)
		}
	}
}

// decodeTLS decodes the [tls] table t at p.
func (d *configDecoder) decodeTLS(p cfgPath, t map[string]any) TLSConfig {
	d.checkKeys(p, t, "cert", "key")
	var tc TLSConfig
	if v, kp, ok := field(p, t, "cert"); ok {
		tc.Cert, _ = d.str(kp, v)
	}
	if v, kp, ok := field(p, t, "key"); ok {
		tc.Key, _ = d.str(kp, v)
	}
	switch {
	case tc.Cert != "" && tc.Key == "":
		d.errorf(p.key("cert"), "set without tls.key; give both or neither")
	case tc.Cert == "" && tc.Key != "":
		d.errorf(p.key("key"), "set without tls.cert; give both or neither")
	}
	return tc
}

// decodeOrigins decodes the [[origin]] tables ts at p.
func (d *configDecoder) decodeOrigins(p cfgPath, ts []map[string]any) []OriginPolicy {
	var out []OriginPolicy
	seen := make(map[string]int) // origin → line
	for i, t := range ts {
		ip := p.index(i)
		d.checkKeys(ip, t, "origin", "methods")
		var pol OriginPolicy
		ok := true
		if v, kp, found := field(ip, t, "origin"); !found {
			d.errorf(ip.key("origin"), "required in every [[origin]] table")
			ok = false
		} else if s, isStr := d.str(kp, v); !isStr {
			ok = false
		} else if n, err := normalizeOrigin(s); err != nil {
			d.errorf(kp, "%v", err)
			ok = false
		} else if l, dup := seen[n]; dup {
			d.errorf(kp, "origin %s already has an [[origin]] table at line %d", n, l)
			ok = false
		} else {
			seen[n] = d.line(kp)
			pol.Origin = n
		}
		if v, kp, found := field(ip, t, "methods"); found {
			list, isList := d.strList(kp, v)
			switch {
			case !isList:
				ok = false
			case len(list) == 0:
				d.errorf(kp, "empty; leave the key out to allow every method")
				ok = false
			}
			for j, name := range list {
				switch {
				case !slices.Contains(configMethodNames, name):
					d.errorf(kp.index(j), "unknown method %q", name)
					ok = false
				case !slices.Contains(pol.Methods, name):
					pol.Methods = append(pol.Methods, name)
				}
			}
		}
		if ok {
			out = append(out, pol)
		}
	}
	return out
}

// decodeMedia decodes the [[media]] tables ts at p.
func (d *configDecoder) decodeMedia(p cfgPath, ts []map[string]any) []agent.MediaProfile {
	var out []agent.MediaProfile
	for i, t := range ts {
		ip := p.index(i)
		d.checkKeys(ip, t, "name", "description", "legacy", "upgrade_to", "carry_over_months",
			"match_manufacturer", "match_model", "match_label", "match_atr")
		mp := agent.MediaProfile{CarryOverMonths: defaultCarryOverMonths}
		if v, kp, ok := field(ip, t, "name"); !ok {
			d.errorf(ip.key("name"), "required in every [[media]] table")
		} else if s, ok := d.str(kp, v); ok {
			if s == "" {
				d.errorf(kp, "must not be empty")
			}
			mp.Name = s
		}
		if v, kp, ok := field(ip, t, "description"); ok {
			mp.Description, _ = d.str(kp, v)
		}
		if v, kp, ok := field(ip, t, "legacy"); ok {
			mp.Legacy, _ = d.boolean(kp, v)
		}
		if v, kp, ok := field(ip, t, "upgrade_to"); ok {
			if s, ok := d.str(kp, v); ok {
				if s != "" && !mp.Legacy {
					d.errorf(kp, "set but legacy is not true; only legacy media are upgraded")
				}
				mp.UpgradeTo = s
			}
		}
		if v, kp, ok := field(ip, t, "carry_over_months"); ok {
			if n, ok := d.intRange(kp, v, 0, maxCarryOverMonths); ok {
				mp.CarryOverMonths = int(n)
			}
		}
		for _, pat := range []struct {
			key string
			re  **regexp.Regexp
		}{
			{"match_manufacturer", &mp.MatchManufacturer},
			{"match_model", &mp.MatchModel},
			{"match_label", &mp.MatchLabel},
			{"match_atr", &mp.MatchATR},
		} {
			if v, kp, ok := field(ip, t, pat.key); ok {
				*pat.re = d.pattern(kp, v)
			}
		}
		out = append(out, mp)
	}
	return out
}

// field returns m[key] and its path under p.
func field(p cfgPath, m map[string]any, key string) (any, cfgPath, bool) {
	v, ok := m[key]
	return v, p.key(key), ok
}

// checkKeys reports the keys of table m (at p) that are not among known.
// Keys are case-sensitive.
func (d *configDecoder) checkKeys(p cfgPath, m map[string]any, known ...string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if slices.Contains(known, k) {
			continue
		}
		if s := closestKey(k, known); s != "" {
			d.errorf(p.key(k), "unknown key (did you mean %q?)", s)
		} else if len(p) > 0 && slices.Contains(configTopKeys, k) {
			d.errorf(p.key(k), "unknown key (top-level keys go before the first [table])")
		} else {
			d.errorf(p.key(k), "unknown key")
		}
	}
}

// closestKey returns the known key k is most likely a typo of, or "".
func closestKey(k string, known []string) string {
	best, bestDist := "", 3 // suggest only within an edit distance of 2
	for _, s := range known {
		if strings.EqualFold(s, k) {
			return s
		}
		if dist := editDistance(strings.ToLower(k), s); dist < bestDist {
			best, bestDist = s, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// tomlTypeName names the TOML type of a decoded value.
func tomlTypeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []any:
		return "array"
	case []map[string]any:
		return "array of tables"
	case map[string]any:
		return "table"
	}
	return fmt.Sprintf("%T", v)
}

func (d *configDecoder) wrongType(p cfgPath, want string, v any) {
	d.errorf(p, "expected %s, found %s", want, tomlTypeName(v))
}

func (d *configDecoder) str(p cfgPath, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(p, "string", v)
	}
	return s, ok
}

func (d *configDecoder) boolean(p cfgPath, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		d.wrongType(p, "boolean", v)
	}
	return b, ok
}

// intRange returns v, an integer from lo to hi.
func (d *configDecoder) intRange(p cfgPath, v any, lo, hi int64) (int64, bool) {
	n, ok := v.(int64)
	switch {
	case !ok:
		d.wrongType(p, "integer", v)
	case n < lo:
		d.errorf(p, "must be at least %d, not %d", lo, n)
	case n > hi:
		d.errorf(p, "must be at most %d, not %d", hi, n)
	default:
		return n, true
	}
	return 0, false
}

// duration returns v, a string such as "1s" or "250ms".
func (d *configDecoder) duration(p cfgPath, v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		d.wrongType(p, `duration string such as "1s"`, v)
		return 0, false
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(p, "invalid duration %q", s)
		return 0, false
	}
	return dur, true
}

// pattern compiles v, a regular expression in Go (RE2) syntax; the empty
// string gives nil, which matches anything.
func (d *configDecoder) pattern(p cfgPath, v any) *regexp.Regexp {
	s, ok := d.str(p, v)
	if !ok || s == "" {
		return nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			d.errorf(p, "invalid regular expression %q: %s: `%s`", s, se.Code, se.Expr)
		} else {
			d.errorf(p, "invalid regular expression %q: %v", s, err)
		}
		return nil
	}
	return re
}

// strList returns v, an array of strings. A wrong element is reported at
// its own line.
func (d *configDecoder) strList(p cfgPath, v any) ([]string, bool) {
	arr, ok := v.([]any)
	if !ok {
		d.wrongType(p, "array of strings", v)
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			d.wrongType(p.index(i), "string", e)
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func (d *configDecoder) table(p cfgPath, v any) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		d.wrongType(p, "table", v)
	}
	return t, ok
}

// tableList returns v, an array of tables ([[name]] sections, or an array
// of inline tables).
func (d *configDecoder) tableList(p cfgPath, v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		out := make([]map[string]any, 0, len(v))
		for i, e := range v {
			t, ok := e.(map[string]any)
			if !ok {
				d.wrongType(p.index(i), "table", e)
				return nil, false
			}
			out = append(out, t)
		}
		return out, true
	}
	d.wrongType(p, "array of tables", v)
	return nil, false
}

// checkListenAddr checks a listen address: host:port with a numeric port
// (0 means any free port) and an IP address, a host name or nothing (every
// interface) as the host.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid listen address %q: want host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid listen address %q: port must be a number from 0 to 65535", addr)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if !validHostName(host) {
		return fmt.Errorf("invalid listen address %q: bad host %q", addr, host)
	}
	return nil
}

// listenIsLoopback reports whether addr's host is a loopback address
// (127.0.0.0/8, ::1) or localhost.
func listenIsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// validHostName reports whether h looks like a DNS name: dot-separated
// labels of ASCII letters, digits, '-' and '_'.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// normalizeOrigin is ws.NormalizeOrigin, the server's own normalisation, so
// that the file's origins compare equal to what browsers send, limited to
// the web schemes a page can have.
func normalizeOrigin(s string) (string, error) {
	o, err := ws.NormalizeOrigin(s)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
		return "", fmt.Errorf("origin %q: scheme must be http or https", s)
	}
	return o, nil
}

// cfgPath is the path of a key in the config file: table keys, with an
// index element after an array's key for each item ("media", #1, "name").
type cfgPath []string

const cfgIndexMark = "\x00#"

func (p cfgPath) key(k string) cfgPath { return append(p[:len(p):len(p)], k) }

func (p cfgPath) index(i int) cfgPath {
	return append(p[:len(p):len(p)], cfgIndexMark+strconv.Itoa(i))
}

// id identifies p in configKeyLines's map.
func (p cfgPath) id() string { return strings.Join(p, "\x00.") }

// String returns p as a dotted TOML key without the array indexes, as the
// key is spelled in the file ("media.match_label").
func (p cfgPath) String() string {
	var k toml.Key
	for _, s := range p {
		if !strings.HasPrefix(s, cfgIndexMark) {
			k = append(k, s)
		}
	}
	return k.String()
}

// configKeyLines maps the path id of every key, table header and array
// item of doc, a TOML document that has parsed without error, to the line it
// starts on. Items of arrays of tables ([[media]]) are numbered, so a key
// is found in the right table; the toml package's MetaData keeps one
// position per dotted key only.
func configKeyLines(doc string) (lines map[string]int) {
	s := &cfgScanner{doc: doc, line: 1, lines: make(map[string]int), arrays: make(map[string]int)}
	defer func() {
		// The lines only improve error messages: never fail for them.
		if recover() != nil {
			lines = s.lines
		}
	}()
	s.document()
	return s.lines
}

// cfgScanner is a small TOML scanner that finds where keys are.
type cfgScanner struct {
	doc    string
	pos    int
	line   int
	lines  map[string]int
	arrays map[string]int // id of an array of tables → its number of tables so far
}

func (s *cfgScanner) eof() bool { return s.pos >= len(s.doc) }

func (s *cfgScanner) peek(off int) byte {
	if s.pos+off < len(s.doc) {
		return s.doc[s.pos+off]
	}
	return 0
}

func (s *cfgScanner) record(p cfgPath, line int) {
	if _, ok := s.lines[p.id()]; !ok {
		s.lines[p.id()] = line
	}
}

// skip skips blanks and, with newlines, line ends and comments too.
func (s *cfgScanner) skip(newlines bool) {
	for !s.eof() {
		switch c := s.doc[s.pos]; {
		case c == ' ' || c == '\t':
			s.pos++
		case newlines && c == '\r':
			s.pos++
		case newlines && c == '\n':
			s.pos++
			s.line++
		case newlines && c == '#':
			for !s.eof() && s.doc[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

func (s *cfgScanner) document() {
	s.pos = len(s.doc) - len(strings.TrimPrefix(s.doc, "\ufeff"))
	var table cfgPath
	for {
		s.skip(true)
		if s.eof() {
			return
		}
		start, line := s.pos, s.line
		if s.peek(0) == '[' {
			array := s.peek(1) == '['
			s.pos++
			if array {
				s.pos++
			}
			keys := s.key()
			for s.skip(false); s.peek(0) == ']'; s.pos++ {
			}
			// Parent tables that are arrays of tables mean their last table.
			// A parent that no line of its own defines ([a.b] alone defines
			// a) is on the header's line.
			table = nil
			for i, k := range keys {
				table = table.key(k)
				s.record(table, line)
				if n, ok := s.arrays[table.id()]; ok && (i < len(keys)-1 || !array) {
					table = table.index(n - 1)
				}
			}
			if array {
				s.record(table, line)
				n := s.arrays[table.id()]
				s.arrays[table.id()] = n + 1
				table = table.index(n)
			}
			s.record(table, line)
		} else {
			s.keyValue(table, line)
		}
		if s.pos == start {
			s.pos++ // cannot happen in valid TOML; never loop
		}
	}
}

// keyValue scans key = value in table.
func (s *cfgScanner) keyValue(table cfgPath, line int) {
	p := table
	for _, k := range s.key() {
		p = p.key(k)
		s.record(p, line)
	}
	s.skip(false)
	if s.peek(0) == '=' {
		s.pos++
	}
	s.skip(false)
	s.value(p)
}

// key scans a possibly dotted, possibly quoted key.
func (s *cfgScanner) key() []string {
	var parts []string
	for {
		s.skip(false)
		switch s.peek(0) {
		case '"':
			start := s.pos
			s.basicString()
			raw := s.doc[start:s.pos]
			k, err := strconv.Unquote(raw)
			if err != nil {
				k = strings.Trim(raw, `"`)
			}
			parts = append(parts, k)
		case '\'':
			start := s.pos
			s.literalString()
			parts = append(parts, strings.Trim(s.doc[start:s.pos], "'"))
		default:
			start := s.pos
			for !s.eof() && isBareKeyByte(s.doc[s.pos]) {
				s.pos++
			}
			parts = append(parts, s.doc[start:s.pos])
		}
		s.skip(false)
		if s.peek(0) != '.' {
			return parts
		}
		s.pos++
	}
}

func isBareKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// value scans the value of the key at p.
func (s *cfgScanner) value(p cfgPath) {
	switch s.peek(0) {
	case '"':
		if strings.HasPrefix(s.doc[s.pos:], `"""`) {
			s.multiline(`"""`, true)
		} else {
			s.basicString()
		}
	case '\'':
		if strings.HasPrefix(s.doc[s.pos:], `'''`) {
			s.multiline(`'''`, false)
		} else {
			s.literalString()
		}
	case '[':
		s.pos++
		for i := 0; ; {
			s.skip(true)
			switch s.peek(0) {
			case 0:
				return
			case ']':
				s.pos++
				return
			case ',':
				s.pos++
				continue
			}
			start := s.pos
			s.record(p.index(i), s.line)
			s.value(p.index(i))
			i++
			if s.pos == start {
				s.pos++
			}
		}
	case '{':
		s.pos++
		for {
			s.skip(true)
			switch s.peek(0) {
			case 0:
				return
			case '}':
				s.pos++
				return
			case ',':
				s.pos++
				continue
			}
			start := s.pos
			s.keyValue(p, s.line)
			if s.pos == start {
				s.pos++
			}
		}
	default: // number, boolean, date-time (which may hold a space)
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.doc[s.pos])) {
			s.pos++
		}
	}
}

// basicString scans a one-line "string" with escapes.
func (s *cfgScanner) basicString() {
	s.pos++
	for !s.eof() {
		switch s.doc[s.pos] {
		case '\\':
			s.pos = min(s.pos+2, len(s.doc))
		case '"':
			s.pos++
			return
		case '\n':
			return
		default:
			s.pos++
		}
	}
}

// literalString scans a one-line 'string'.
func (s *cfgScanner) literalString() {
	s.pos++
	for !s.eof() {
		switch s.doc[s.pos] {
		case '\'':
			s.pos++
			return
		case '\n':
			return
		default:
			s.pos++
		}
	}
}

// multiline scans a multi-line string delimited by delim, with backslash
// escapes when escapes is set.
func (s *cfgScanner) multiline(delim string, escapes bool) {
	s.pos += len(delim)
	for !s.eof() {
		switch c := s.doc[s.pos]; {
		case escapes && c == '\\':
			s.pos++
			if s.peek(0) == '\n' {
				s.line++
			}
			s.pos = min(s.pos+1, len(s.doc))
		case c == '\n':
			s.line++
			s.pos++
		case strings.HasPrefix(s.doc[s.pos:], delim):
			s.pos += len(delim)
			// Up to two more quotes belong to the string: """a""""" is `a""`.
			for i := 0; i < 2 && s.peek(0) == delim[0]; i++ {
				s.pos++
			}
			return
		default:
			s.pos++
		}
	}
}
