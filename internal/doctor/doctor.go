package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/internal/browserpolicy"
	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/token"
)

// Level says how bad a finding is.
type Level int

// The levels of a finding: Warn and Fail come with a fix; a Fail makes
// the command exit 1.
const (
	OK Level = iota
	Info
	Warn
	Fail
)

// Finding is one thing doctor found.
type Finding struct {
	Level   Level
	Topic   string   // "service", "config", "module /usr/lib/…", …
	Text    string   // what was found
	Fix     string   // how to fix it; set for Warn and Fail
	Details []string // lines that belong under the finding
}

// Report is every finding of a Check, in the order found.
type Report struct {
	Findings []Finding
}

// Count returns how many findings of level l the report has.
func (r Report) Count(l Level) int {
	n := 0
	for _, f := range r.Findings {
		if f.Level == l {
			n++
		}
	}
	return n
}

// Probe is what doctor asks of the world outside the config.
type Probe struct {
	GOOS    string
	Getenv  func(string) string
	User    bool                     // check the current user's service and config
	Service func() Service           // asks the service manager, once
	Readers func() token.ReaderState // the PC/SC state, once
	Timeout time.Duration            // for reaching the agent (its /healthz, its socket's handshake)
	// Running tells how the agent listening at addr (host:port) was
	// started, or why that cannot be told; nil does not ask.
	Running func(addr string) (Running, error)
	// Browsers reads the local browsers' policies for the origins; nil
	// skips the check.
	Browsers func(origins []string) []browserpolicy.Result
}

// Service is the service manager's answer about the agent's service.
type Service struct {
	// Unavailable, when set, says why there is no service to ask about
	// (no definition for this platform, no service manager found); the
	// fields below are then unset.
	Unavailable string
	Name        string         // the service's name
	Platform    string         // the service manager ("linux-systemd", …)
	Status      service.Status // what Status returned
	Err         error          // Status's error; service.ErrNotInstalled when not installed
	Log         string         // where the service's log is, for people
}

// Check runs every check, with the config at cfgFile or, when empty, at
// the service's standard place. It asks the agent listening at listen or,
// when empty, at the config's listen; a listen given must be well formed
// (config.CheckListenAddr).
func Check(p Probe, cfgFile, listen string) Report {
	c := &checker{p: p}
	installed := c.service()
	loaded := loadConfig(p, cfgFile)
	if loaded.err == nil {
		c.cfgPath = loaded.path
	}
	var running *runningAgent
	switch {
	case listen != "":
		running = c.agent(listen, loaded.cfg, installed)
	case loaded.err == nil:
		running = c.agent(loaded.cfg.Listen, loaded.cfg, installed)
	default:
		c.info("agent", "not asked: the config that gives its address is invalid; name the address: tokenagent doctor --listen ADDR")
	}
	ok := c.config(loaded)
	if ok {
		c.modules(loaded.cfg, running)
	}
	c.pcsc()
	if ok {
		c.origins(loaded.cfg, running)
		c.browserPolicies(loaded.cfg)
		c.tls(loaded.cfg)
	} else {
		c.info("modules, origins, tls", "not checked while the config is invalid")
	}
	return Report{Findings: c.findings}
}

// checker collects the findings of one Check.
type checker struct {
	p        Probe
	findings []Finding
	svc      Service
	cfgPath  string // the config file checked, or the one to create; empty when unknown
}

// ok, info, warn and fail record a finding; warn and fail say how to fix it.
func (c *checker) ok(topic, format string, args ...any) {
	c.findings = append(c.findings, Finding{Level: OK, Topic: topic, Text: fmt.Sprintf(format, args...)})
}

func (c *checker) info(topic, format string, args ...any) {
	c.findings = append(c.findings, Finding{Level: Info, Topic: topic, Text: fmt.Sprintf(format, args...)})
}

func (c *checker) warn(topic, finding, fix string) {
	c.findings = append(c.findings, Finding{Level: Warn, Topic: topic, Text: finding, Fix: fix})
}

func (c *checker) fail(topic, finding, fix string) {
	c.findings = append(c.findings, Finding{Level: Fail, Topic: topic, Text: finding, Fix: fix})
}

// detail adds a line under the last finding.
func (c *checker) detail(format string, args ...any) {
	last := &c.findings[len(c.findings)-1]
	last.Details = append(last.Details, fmt.Sprintf(format, args...))
}

// userFlag returns " --user" when checking the user's service, for the
// commands a fix suggests.
func (c *checker) userFlag() string {
	if c.p.User {
		return " --user"
	}
	return ""
}

// service reports the service's state and whether it is installed.
func (c *checker) service() (installed bool) {
	kind := "system service"
	if c.p.User {
		kind = "user service"
	}
	installHint := "tokenagent service install" + c.userFlag() + " && tokenagent service start" + c.userFlag()
	s := c.p.Service()
	c.svc = s
	if s.Unavailable != "" {
		c.warn("service", s.Unavailable, "run the agent yourself: tokenagent run")
		return false
	}
	switch {
	case errors.Is(s.Err, service.ErrNotInstalled):
		c.warn("service", fmt.Sprintf("%s is not installed as a %s (%s)", s.Name, kind, s.Platform), installHint)
		return false
	case s.Err == nil && s.Status == service.StatusRunning:
		c.ok("service", "%s is installed as a %s (%s) and running", s.Name, kind, s.Platform)
		return true
	case s.Err == nil && s.Status == service.StatusStopped:
		c.fail("service", fmt.Sprintf("%s is installed as a %s (%s) but stopped", s.Name, kind, s.Platform),
			"tokenagent service start"+c.userFlag())
		return true
	}
	// The manager could not tell (no init system running, a failed unit):
	// not counted as installed.
	state := "unknown"
	if s.Err != nil {
		state += ": " + s.Err.Error()
	}
	c.warn("service", fmt.Sprintf("the state of the %s (%s) is %s", kind, s.Platform, state),
		"see whether the service manager runs; if the service is installed: tokenagent service restart"+c.userFlag())
	return false
}

// loadedConfig is the config checked.
type loadedConfig struct {
	cfg     config.Config
	path    string // the file read, or the standard one that holds none; empty when not known
	missing bool   // path is the standard place and holds no file: the defaults apply
	err     error  // the config cannot be had; cfg is then unset
}

// loadConfig loads the config at path, else at the service's standard
// place, where a missing file means the defaults.
func loadConfig(p Probe, path string) loadedConfig {
	if path == "" {
		std, err := config.File(p.GOOS, p.User, p.Getenv)
		if err != nil {
			return loadedConfig{err: err}
		}
		if _, err := os.Stat(std); errors.Is(err, fs.ErrNotExist) {
			return loadedConfig{cfg: config.Default(), path: std, missing: true}
		}
		path = std
	}
	cfg, err := config.Load(path, config.Overrides{})
	return loadedConfig{cfg: cfg, path: path, err: err}
}

// config reports the config loaded and whether it can be checked further.
func (c *checker) config(l loadedConfig) bool {
	switch {
	case l.err != nil && l.path == "":
		c.fail("config", l.err.Error(), "name the config file: tokenagent doctor --config FILE")
		return false
	case l.err != nil:
		c.fail("config", "invalid; the agent does not start with it", "correct these in "+l.path+" (PROTOCOL.md section 6):")
		for _, line := range strings.Split(l.err.Error(), "\n") {
			c.detail("  %s", line)
		}
		return false
	case l.missing:
		c.ok("config", "no file at %s: the service uses the defaults", l.path)
	default:
		c.ok("config", "%s is valid", l.path)
	}
	c.nonLoopback(l.cfg)
	return true
}

// inConfig names the config file to edit in a fix.
func (c *checker) inConfig() string {
	if c.cfgPath == "" {
		return "in the config file"
	}
	return "in " + c.cfgPath
}

// modules checks the PKCS#11 modules of the config. With an agent
// running, what it loaded is above, and only the modules it lacks are
// told; else doctor loads each module as the agent would and lists its
// tokens (as this user, in doctor's environment, which may not be the
// agent's).
func (c *checker) modules(cfg config.Config, running *runningAgent) {
	if running != nil {
		c.modulesNotLoaded(cfg, running)
		return
	}
	paths := cfg.Modules
	if len(paths) == 0 {
		paths = token.KnownModules()
		if len(paths) == 0 {
			c.fail("modules", "none configured, and none of the known modules (OpenSC, Rutoken, JaCarta, SafeNet, ykcs11, …) found",
				"install your token's PKCS#11 module, or name it in modules = [...] "+c.inConfig())
			return
		}
		c.info("modules", "none configured; the agent uses the known modules found here")
	}
	m := token.NewManager(paths, slog.New(slog.DiscardHandler))
	defer func() { _ = m.Close() }() // finalising modules we only looked at
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tokens, tokErr := m.Tokens(ctx)
	loaded := 0
	for _, st := range m.Modules() {
		topic := "module " + st.Path
		if st.Err != nil {
			fix := "check that the module suits this system (architecture, the libraries it needs), or remove it from modules " + c.inConfig()
			if errors.Is(st.Err, fs.ErrNotExist) {
				fix = "install the module, or correct its path in modules " + c.inConfig()
			}
			c.fail(topic, "not loaded: "+st.Err.Error(), fix)
			continue
		}
		loaded++
		var labels []string
		for _, t := range tokens {
			if t.Module == st.Path {
				labels = append(labels, fmt.Sprintf("%q", t.Label))
			}
		}
		slices.Sort(labels)
		what := "no token present"
		if len(labels) > 0 {
			what = Plural(len(labels), "token") + ": " + strings.Join(labels, ", ")
		}
		c.ok(topic, "loaded (%s, version %s); %s", st.Info.Manufacturer, st.Info.LibraryVersion, what)
	}
	if tokErr != nil {
		c.warn("tokens", "listing the tokens: "+tokErr.Error(), "unplug and replug the token, then run doctor again")
	}
	if loaded == 0 {
		c.fail("modules", "no PKCS#11 module loaded: the agent sees no token", "make one of the modules above load")
	}
}

// modulesNotLoaded warns of each module the config names that the running
// agent has not loaded: it reads another config, or started before the
// config named the module.
func (c *checker) modulesNotLoaded(cfg config.Config, r *runningAgent) {
	if len(cfg.Modules) == 0 {
		c.info("modules", "none configured; the agent uses the known modules it finds (see the agent's above)")
		return
	}
	missing := 0
	for _, p := range cfg.Modules {
		if !slices.ContainsFunc(r.info.Modules, func(m moduleInfo) bool { return m.Path == p }) {
			missing++
			c.warn("module "+p, "named "+c.inConfig()+", but the running agent has not loaded it (it reads another config, or started before the change)",
				"restart the agent: tokenagent service restart"+c.userFlag())
		}
	}
	if missing == 0 {
		c.ok("modules", "the running agent has loaded each module named %s", c.inConfig())
	}
}

// pcsc reports whether the PC/SC service answers and its readers.
func (c *checker) pcsc() {
	st := c.p.Readers()
	if !st.Available {
		fix := "start it: sudo systemctl start pcscd.socket (install it: sudo apt-get install pcscd)"
		switch c.p.GOOS {
		case "windows":
			fix = "start the Smart Card service: sc start SCardSvr"
		case "darwin":
			fix = "the smart card service is part of macOS; restart the computer"
		}
		c.warn("pc/sc", fmt.Sprintf("the PC/SC service does not answer (%v): tokens behind card readers are not seen", st.Err), fix)
		return
	}
	if len(st.Readers) == 0 {
		c.ok("pc/sc", "the PC/SC service answers; no reader connected")
		return
	}
	c.ok("pc/sc", "the PC/SC service answers; %s:", Plural(len(st.Readers), "reader"))
	for _, r := range st.Readers {
		card := "no card"
		if r.Present {
			card = "card present"
		}
		c.detail("  %s (%s)", r.Name, card)
	}
}

// origins lists the pages the config lets use the agent, unless they are
// what the running agent accepts, told above.
func (c *checker) origins(cfg config.Config, running *runningAgent) {
	if running != nil && running.process != nil && sameOrigins(cfg, running.process.Config) {
		c.ok("origins", "the config checked allows the origins the running agent accepts")
		return
	}
	c.allowedOrigins("origins", cfg, "", c.inConfig())
}

// allowedOrigins reports the origins cfg allows, from where from says,
// under topic; inConfig says where to change them.
func (c *checker) allowedOrigins(topic string, cfg config.Config, from, inConfig string) {
	local := "local programs (no Origin header) and the agent's own page"
	if !cfg.AllowNoOrigin {
		local = "the agent's own page"
	}
	if len(cfg.AllowedOrigins) == 0 {
		c.warn(topic, "allowed_origins is empty: no web site can use the agent, only "+local,
			`list the sites that should use the tokens: allowed_origins = ["https://…"] `+inConfig)
		return
	}
	c.ok(topic, "allowed%s: %s, besides %s:", from, Plural(len(cfg.AllowedOrigins), "web site"), local)
	limits := cfg.OriginMethods()
	for _, o := range cfg.AllowedOrigins {
		if ms, ok := limits[o]; ok {
			c.detail("  %s (only %s)", o, strings.Join(ms, ", "))
		} else {
			c.detail("  %s (every method)", o)
		}
	}
}

// sameOrigins tells whether a and b let the same pages use the same methods.
func sameOrigins(a, b config.Config) bool {
	return a.AllowNoOrigin == b.AllowNoOrigin && slices.Equal(a.AllowedOrigins, b.AllowedOrigins) &&
		maps.EqualFunc(a.OriginMethods(), b.OriginMethods(), slices.Equal)
}

// Plural returns "1 token", "2 tokens".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
