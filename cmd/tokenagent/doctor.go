package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/browserpolicy"
	"github.com/tokenagent/tokenagent/internal/localtls"
	"github.com/tokenagent/tokenagent/token"
)

const doctorUsage = `usage: tokenagent doctor [--config FILE] [--user]

Checks the service, the config, the listening address, the PKCS#11 modules,
the PC/SC service and the allowed origins, and says how to fix what is wrong.

  --config FILE  the config to check (default: the service's, see --user)
  --user         check the current user's service and config

Exit code 1 when something is broken: the config is invalid, a module does
not load or none is found, the service is installed but stopped, or the
agent does not answer although the service is installed. Warnings (PC/SC
down, service not installed or its state unknown, nothing answering without
a service, no allowed origins, a non-loopback address) leave it 0.
`

// doctorProbe is what doctor asks of the world outside the config: seams
// for tests. The service manager is reached through newService.
type doctorProbe struct {
	goos    string
	getenv  func(string) string
	readers func() token.ReaderState // the PC/SC state, once
	timeout time.Duration            // for the agent's /healthz
	// browsers reads the local browsers' policies for the origins.
	browsers func(origins []string) []browserpolicy.Result
}

// systemProbe probes this computer.
func systemProbe() doctorProbe {
	return doctorProbe{
		goos:   runtime.GOOS,
		getenv: os.Getenv,
		readers: func() token.ReaderState {
			w := token.WatchPCSC(slog.New(slog.DiscardHandler), nil)
			st := w.State()
			_ = w.Close() // State is all we came for
			return st
		},
		timeout:  2 * time.Second,
		browsers: browserpolicy.Check,
	}
}

// runDoctor runs `tokenagent doctor` and returns the exit code.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	return doctorWith(systemProbe(), args, stdout, stderr)
}

// doctorWith is runDoctor with the probes given.
func doctorWith(p doctorProbe, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("doctor", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, doctorUsage) }
	cfgFlag := flags.String("config", "", "the config `file` to check")
	user := flags.Bool("user", false, "check the current user's service and config")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "tokenagent: unexpected arguments: %q\n%s", flags.Args(), doctorUsage)
		return 2
	}
	d := &doctor{probe: p, w: stdout, user: *user}
	fmt.Fprintf(stdout, "tokenagent doctor, version %s\n\n", agentVersion())
	installed := d.checkService()
	cfg, ok := d.checkConfig(*cfgFlag)
	if ok {
		d.checkListening(cfg, installed)
		d.checkModules(cfg)
	}
	d.checkPCSC()
	if ok {
		d.checkOrigins(cfg)
		d.checkBrowserPolicies(cfg)
		d.checkTLS(cfg)
	} else {
		d.info("listening, modules, origins, tls", "not checked while the config is invalid")
	}
	fmt.Fprintln(stdout)
	switch {
	case d.problems > 0:
		fmt.Fprintf(stdout, "%s, %s: see the fixes above\n", plural(d.problems, "problem"), plural(d.warnings, "warning"))
		return 1
	case d.warnings > 0:
		fmt.Fprintf(stdout, "no problems, %s\n", plural(d.warnings, "warning"))
	default:
		fmt.Fprintln(stdout, "no problems found")
	}
	return 0
}

// doctor runs the checks and prints their findings.
type doctor struct {
	probe doctorProbe
	w     io.Writer
	user  bool

	problems, warnings int
	cfgPath            string // the config file checked, or the one to create; empty when unknown
}

// ok, info, warn and fail print a finding; warn and fail say how to fix it.
func (d *doctor) ok(topic, format string, args ...any) {
	fmt.Fprintf(d.w, "[ok]   %s: %s\n", topic, fmt.Sprintf(format, args...))
}

func (d *doctor) info(topic, format string, args ...any) {
	fmt.Fprintf(d.w, "[info] %s: %s\n", topic, fmt.Sprintf(format, args...))
}

func (d *doctor) warn(topic, finding, fix string) {
	d.warnings++
	fmt.Fprintf(d.w, "[warn] %s: %s\n       fix: %s\n", topic, finding, fix)
}

func (d *doctor) fail(topic, finding, fix string) {
	d.problems++
	fmt.Fprintf(d.w, "[FAIL] %s: %s\n       fix: %s\n", topic, finding, fix)
}

// detail prints a line under the last finding.
func (d *doctor) detail(format string, args ...any) {
	fmt.Fprintf(d.w, "       %s\n", fmt.Sprintf(format, args...))
}

// checkService reports the service's state and whether it is installed.
func (d *doctor) checkService() (installed bool) {
	kind := "system service"
	if d.user {
		kind = "user service"
	}
	installHint := "tokenagent service install" + userFlag(d.user) + " && tokenagent service start" + userFlag(d.user)
	cfg, err := serviceConfig(d.probe.goos, d.user, d.probe.getenv)
	if err != nil {
		d.warn("service", err.Error(), "run the agent yourself: tokenagent run")
		return false
	}
	s, err := newService(&agentProgram{}, cfg)
	if err != nil {
		d.warn("service", fmt.Sprintf("no service manager found (%v)", err), "run the agent yourself: tokenagent run")
		return false
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		d.warn("service", fmt.Sprintf("%s is not installed as a %s (%s)", cfg.Name, kind, s.Platform()), installHint)
		return false
	case err == nil && st == service.StatusRunning:
		d.ok("service", "%s is installed as a %s (%s) and running", cfg.Name, kind, s.Platform())
		return true
	case err == nil && st == service.StatusStopped:
		d.fail("service", fmt.Sprintf("%s is installed as a %s (%s) but stopped", cfg.Name, kind, s.Platform()),
			"tokenagent service start"+userFlag(d.user))
		return true
	}
	// The manager could not tell (no init system running, a failed unit):
	// not counted as installed.
	state := "unknown"
	if err != nil {
		state += ": " + err.Error()
	}
	d.warn("service", fmt.Sprintf("the state of the %s (%s) is %s", kind, s.Platform(), state),
		"see whether the service manager runs; if the service is installed: tokenagent service restart"+userFlag(d.user))
	return false
}

// checkConfig loads the config at path, else at the service's standard
// place, where a missing file means the defaults.
func (d *doctor) checkConfig(path string) (Config, bool) {
	if path == "" {
		std, err := configPath(d.probe.goos, d.user, d.probe.getenv)
		if err != nil {
			d.fail("config", err.Error(), "name the config file: tokenagent doctor --config FILE")
			return Config{}, false
		}
		if _, err := os.Stat(std); errors.Is(err, fs.ErrNotExist) {
			d.cfgPath = std // where to write what a fix asks for
			d.ok("config", "no file at %s: the service uses the defaults", std)
			return defaultConfig(), true
		}
		path = std
	}
	cfg, err := loadConfig(path, overrides{})
	if err != nil {
		d.fail("config", "invalid; the agent does not start with it", "correct these in "+path+" (PROTOCOL.md section 6):")
		for _, line := range strings.Split(err.Error(), "\n") {
			d.detail("  %s", line)
		}
		return Config{}, false
	}
	d.cfgPath = path
	d.ok("config", "%s is valid", path)
	return cfg, true
}

// inConfig names the config file to edit in a fix.
func (d *doctor) inConfig() string {
	if d.cfgPath == "" {
		return "in the config file"
	}
	return "in " + d.cfgPath
}

// checkListening asks the agent at the configured address for /healthz.
func (d *doctor) checkListening(cfg Config, installed bool) {
	topic := "listening"
	if cfg.NonLoopback() {
		d.warn(topic, fmt.Sprintf("listen = %q lets other computers reach the agent", cfg.Listen),
			`listen on loopback only: listen = "`+defaultListen+`" `+d.inConfig())
	}
	host, port, _ := net.SplitHostPort(cfg.Listen) // loadConfig checked it
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	scheme := "http"
	client := &http.Client{Timeout: d.probe.timeout}
	if cfg.TLS.Cert != "" {
		scheme = "https"
		// The probe only asks whether the agent answers; whether browsers
		// trust its certificate is another question.
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	v, err := healthz(client, scheme+"://"+addr+"/healthz")
	switch {
	case err == nil:
		d.ok(topic, "the agent answers at %s: version %s, protocol %d", addr, v.Version, v.Protocol)
		if v.Protocol != agent.Protocol {
			d.warn(topic, fmt.Sprintf("the agent speaks protocol %d, this tokenagent %d", v.Protocol, agent.Protocol),
				"restart the service on the installed binary: tokenagent service restart"+userFlag(d.user))
		}
	case installed:
		d.fail(topic, fmt.Sprintf("nothing answers at %s although the service is installed (%v)", addr, err),
			"tokenagent service restart"+userFlag(d.user)+", then read its log ("+d.logHint()+")")
	default:
		d.warn(topic, fmt.Sprintf("nothing answers at %s (%v)", addr, err),
			"tokenagent service install"+userFlag(d.user)+" && tokenagent service start"+userFlag(d.user)+", or run it yourself: tokenagent run")
	}
}

// logHint tells where the service's log is.
func (d *doctor) logHint() string {
	switch d.probe.goos {
	case "windows":
		return "Event Viewer, Windows Logs, Application, source " + serviceName
	case "darwin":
		return "log show --predicate 'process == \"tokenagent\"'"
	}
	if d.user {
		return "journalctl --user -u " + serviceName
	}
	return "journalctl -u " + serviceName
}

// health is the agent's /healthz answer.
type health struct {
	Status   string `json:"status"`
	Version  string `json:"version"`
	Protocol int    `json:"protocol"`
}

// healthz gets url and decodes the answer.
func healthz(c *http.Client, url string) (health, error) {
	var h health
	resp, err := c.Get(url)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return h, errors.New("no answer in time")
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return h, errors.New("connection refused")
		}
		return h, fmt.Errorf("asking for /healthz: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, fmt.Errorf("/healthz answered %s: another program holds the port?", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h); err != nil || h.Status != "ok" {
		return h, errors.New("the answer to /healthz is not the agent's: another program holds the port?")
	}
	return h, nil
}

// checkModules loads each PKCS#11 module the agent would and lists its tokens.
func (d *doctor) checkModules(cfg Config) {
	paths := cfg.Modules
	if len(paths) == 0 {
		paths = token.KnownModules()
		if len(paths) == 0 {
			d.fail("modules", "none configured, and none of the known modules (OpenSC, Rutoken, JaCarta, SafeNet, ykcs11, …) found",
				"install your token's PKCS#11 module, or name it in modules = [...] "+d.inConfig())
			return
		}
		d.info("modules", "none configured; the agent uses the known modules found here")
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
			fix := "check that the module suits this system (architecture, the libraries it needs), or remove it from modules " + d.inConfig()
			if errors.Is(st.Err, fs.ErrNotExist) {
				fix = "install the module, or correct its path in modules " + d.inConfig()
			}
			d.fail(topic, "not loaded: "+st.Err.Error(), fix)
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
			what = plural(len(labels), "token") + ": " + strings.Join(labels, ", ")
		}
		d.ok(topic, "loaded (%s, version %s); %s", st.Info.Manufacturer, st.Info.LibraryVersion, what)
	}
	if tokErr != nil {
		d.warn("tokens", "listing the tokens: "+tokErr.Error(), "unplug and replug the token, then run doctor again")
	}
	if loaded == 0 {
		d.fail("modules", "no PKCS#11 module loaded: the agent sees no token", "make one of the modules above load")
	}
}

// checkPCSC reports whether the PC/SC service answers and its readers.
func (d *doctor) checkPCSC() {
	st := d.probe.readers()
	if !st.Available {
		fix := "start it: sudo systemctl start pcscd.socket (install it: sudo apt-get install pcscd)"
		switch d.probe.goos {
		case "windows":
			fix = "start the Smart Card service: sc start SCardSvr"
		case "darwin":
			fix = "the smart card service is part of macOS; restart the computer"
		}
		d.warn("pc/sc", fmt.Sprintf("the PC/SC service does not answer (%v): tokens behind card readers are not seen", st.Err), fix)
		return
	}
	if len(st.Readers) == 0 {
		d.ok("pc/sc", "the PC/SC service answers; no reader connected")
		return
	}
	d.ok("pc/sc", "the PC/SC service answers; %s:", plural(len(st.Readers), "reader"))
	for _, r := range st.Readers {
		card := "no card"
		if r.Present {
			card = "card present"
		}
		d.detail("  %s (%s)", r.Name, card)
	}
}

// checkOrigins lists the pages that may use the agent.
func (d *doctor) checkOrigins(cfg Config) {
	local := "local programs (no Origin header) and the agent's own page"
	if !cfg.AllowNoOrigin {
		local = "the agent's own page"
	}
	if len(cfg.AllowedOrigins) == 0 {
		d.warn("origins", "allowed_origins is empty: no web site can use the agent, only "+local,
			`list the sites that should use the tokens: allowed_origins = ["https://…"] `+d.inConfig())
		return
	}
	d.ok("origins", "allowed: %s, besides %s:", plural(len(cfg.AllowedOrigins), "web site"), local)
	limits := cfg.originMethods()
	for _, o := range cfg.AllowedOrigins {
		if ms, ok := limits[o]; ok {
			d.detail("  %s (only %s)", o, strings.Join(ms, ", "))
		} else {
			d.detail("  %s (every method)", o)
		}
	}
}

// checkTLS reports the configured certificate. Whether browsers trust it
// is not checked yet.
func (d *doctor) checkTLS(cfg Config) {
	if cfg.TLS.Cert == "" {
		d.info("tls", "not configured: pages connect over ws://")
		return
	}
	cert, err := localtls.ReadCert(cfg.TLS.Cert)
	switch {
	case err != nil:
		d.fail("tls", fmt.Sprintf("the certificate %s cannot be read: %v", cfg.TLS.Cert, err), "run: sudo tokenagent tls setup")
		return
	case localtls.RenewalDue(cert, time.Now()):
		d.warn("tls", fmt.Sprintf("the certificate %s expires %s and the agent could not renew it", cfg.TLS.Cert, cert.NotAfter.UTC().Format(time.DateOnly)),
			"run: sudo tokenagent tls setup")
	default:
		d.info("tls", "certificate %s (valid until %s), key %s", cfg.TLS.Cert, cert.NotAfter.UTC().Format(time.DateOnly), cfg.TLS.Key)
	}
	d.checkTrust(filepath.Dir(cfg.TLS.Cert))
}

// checkTrust tells, for a certificate `tls setup` made, which trust stores
// hold its CA: the system's, and each browser's of the user running doctor.
// A store without it means pages in that browser cannot reach wss://.
func (d *doctor) checkTrust(dir string) {
	in, err := localtls.Load(dir)
	if err != nil {
		d.info("tls trust", "the certificate was not made by tokenagent tls setup; its trust is not checked")
		return
	}
	stores, unopened := tlsFlags{user: d.user}.trustStores(in)
	for _, err := range unopened {
		d.warn("tls trust", err.Error(), "run: tokenagent tls status")
	}
	for _, s := range stores {
		ok, err := s.Contains(context.Background(), in.CA)
		switch {
		case err != nil:
			d.warn("tls trust", fmt.Sprintf("%s: cannot tell: %v", s.Ref(), err), "run: tokenagent tls status")
		case ok:
			d.ok("tls trust", "%s trusts the local CA", s.Ref())
		default:
			d.warn("tls trust", fmt.Sprintf("%s does not trust the local CA: pages there cannot use wss://", s.Ref()),
				"run as this user: tokenagent tls setup --user, or as root: sudo tokenagent tls setup")
		}
	}
}

// plural returns "1 token", "2 tokens".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
