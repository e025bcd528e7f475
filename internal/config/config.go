package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/ws"
)

// Config is the agent's configuration after defaults, file and command line.
type Config struct {
	Listen         string   // host:port; see NonLoopback
	Modules        []string // PKCS#11 module paths; empty: the known modules found on this system
	AllowedOrigins []string // normalised (see NormalizeOrigin), without duplicates
	AllowNoOrigin  bool
	MaxConnections int
	// MaxConnectionsPerOrigin bounds one origin's connections (all local
	// programs count as one origin, and the agent's own origins as one).
	MaxConnectionsPerOrigin int
	MaxMessageBytes         int64
	IdleTimeout             time.Duration // 0: idle connections stay open
	ConsentTimeout          time.Duration // how long the consent page waits for each answer
	RenewBeforeDays         int
	PollInterval            time.Duration
	StateDir                string         // as given; empty means the standard place, resolved elsewhere
	AuditLog                string         // as given; empty means audit.log in the state directory
	AuditMaxBytes           int64          // the size at which the audit log is rotated
	AuditKeep               int            // how many rotated audit logs are kept
	TLS                     TLS            // both fields set, or neither
	Origins                 []OriginPolicy // per-origin method allow-lists, in file order
	Media                   []agent.MediaProfile
}

// TLS names the certificate and key files to serve HTTPS/WSS with. Both
// are set, or neither is (plain HTTP/WS).
type TLS struct {
	Cert string
	Key  string
}

// OriginPolicy restricts the methods one origin may call, and where the
// person types its calls' PINs.
type OriginPolicy struct {
	Origin   string      // normalised
	Methods  []string    // protocol method names; nil when the file leaves methods out: every method
	PINEntry ws.PINEntry // empty when the file leaves pin_entry out: ws.PINEntryEither
}

// Overrides are the command-line flags that override the config file. An
// empty field was not given; the repeatable flags replace the file's list.
type Overrides struct {
	Listen       string   // --listen
	Modules      []string // --module
	AllowOrigins []string // --allow-origin
}

// Limits that only the file can break.
const (
	MinMaxMessageBytes = 1024
	MinPollInterval    = 100 * time.Millisecond
	MaxPollInterval    = time.Hour
	MaxCarryOverMonths = 120
	MinIdleTimeout     = 10 * time.Second
	MaxIdleTimeout     = 24 * time.Hour
	MinConsentTimeout  = 10 * time.Second
	MaxConsentTimeout  = time.Hour
	MinAuditMaxBytes   = 64 << 10 // a line always fits
	MaxAuditKeep       = 1000
)

// Default returns the configuration used when neither the file nor the
// command line says otherwise: the defaults of the packages that use each
// value.
func Default() Config {
	return Config{
		Listen:                  ws.DefaultListen,
		AllowNoOrigin:           ws.DefaultAllowNoOrigin,
		MaxConnections:          ws.DefaultMaxConnections,
		MaxConnectionsPerOrigin: ws.DefaultMaxConnectionsPerOrigin,
		MaxMessageBytes:         ws.DefaultMaxMessageBytes,
		IdleTimeout:             ws.DefaultIdleTimeout,
		ConsentTimeout:          ws.DefaultConsentTimeout,
		RenewBeforeDays:         agent.DefaultRenewBeforeDays,
		PollInterval:            agent.DefaultPollInterval,
		AuditMaxBytes:           audit.DefaultMaxBytes,
		AuditKeep:               audit.DefaultKeep,
	}
}

// NonLoopback reports whether the agent would listen on an address other
// computers may reach: any host but 127.0.0.0/8, ::1 and localhost
// (an empty host means every interface). The defaults never do; the caller
// logs a warning when the file or the command line asked for it.
func (c Config) NonLoopback() bool {
	return !listenIsLoopback(c.Listen)
}

// OriginMethods returns, for each origin with an [[origin]] allow-list,
// the methods it may call, as ws.Config.OriginMethods takes them. Origins
// absent from the map may call every method.
func (c Config) OriginMethods() map[string][]string {
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

// OriginPINEntry returns where the person types the PINs of each origin
// whose [[origin]] table says, as ws.Config.OriginPINEntry takes it.
// Origins absent from the map take PINs either way.
func (c Config) OriginPINEntry() map[string]ws.PINEntry {
	var m map[string]ws.PINEntry
	for _, o := range c.Origins {
		if o.PINEntry == "" {
			continue
		}
		if m == nil {
			m = make(map[string]ws.PINEntry)
		}
		m[o.Origin] = o.PINEntry
	}
	return m
}

// Error is a problem with the configuration file or a command-line flag.
type Error struct {
	File string // the config file; empty for a command-line flag
	Line int    // 1-based line in File; 0 when unknown
	Key  string // dotted TOML key ("media.match_label"), or the flag ("--listen"); may be empty
	Err  error
}

// Error formats e as `config FILE:LINE: key "KEY": problem`, or
// `flag --listen: problem`.
func (e *Error) Error() string {
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

func (e *Error) Unwrap() error { return e.Err }

// Load reads the config file at path (empty path: defaults only) and
// applies the command-line overrides. Every problem found is reported, one
// *Error each, ordered by line (joined with errors.Join when several).
func Load(path string, o Overrides) (Config, error) {
	c := Default()
	var errs []*Error
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
func (c *Config) loadFile(path string) []*Error {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the message names the file already
		}
		return []*Error{{File: path, Err: err}}
	}
	return c.decodeFile(path, data)
}

// applyOverrides applies the command-line flags to c.
func (c *Config) applyOverrides(o Overrides) []*Error {
	var errs []*Error
	flagErr := func(flag string, err error) {
		errs = append(errs, &Error{Key: flag, Err: err})
	}
	if o.Listen != "" {
		if err := CheckListenAddr(o.Listen); err != nil {
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
			n, err := NormalizeOrigin(s)
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
