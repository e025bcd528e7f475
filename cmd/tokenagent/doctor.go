package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tokenagent/tokenagent/internal/browserpolicy"
	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/internal/doctor"
	"github.com/tokenagent/tokenagent/token"
)

const doctorUsage = `usage: tokenagent doctor [--config FILE] [--listen ADDR] [--user]

Asks the running agent what it has (its modules, their tokens, the origins
it accepts), then checks the service, the config, the PKCS#11 modules, the
PC/SC service, the allowed origins, the browsers' policies and the local TLS
certificate, and says how to fix what is wrong.

  --config FILE  the config to check (default: the service's, see --user)
  --listen ADDR  where the agent to ask listens (default: the config's listen)
  --user         check the current user's service and config

doctor asks the agent as a local program (no Origin header) over ws://, or
wss:// when its config has [tls]. The origins it accepts are read from how
its process was started (its command line and config file; Linux, as the
agent's user or root): the protocol lists them to no one.

Exit code 1 when something is broken: the config is invalid, a module does
not load or none is found, the service is installed but stopped, or the
agent does not answer although the service is installed. Warnings (PC/SC
down, service not installed or its state unknown, no agent listening without
a service, no allowed origins, a non-loopback address) leave it 0; 2 for a
command line it does not understand.
`

// systemProbe probes this computer; the service manager is asked in
// doctorWith, once the flags say which service.
func systemProbe() doctor.Probe {
	return doctor.Probe{
		GOOS:   runtime.GOOS,
		Getenv: os.Getenv,
		Readers: func() token.ReaderState {
			w := token.WatchPCSC(slog.New(slog.DiscardHandler), nil)
			st := w.State()
			_ = w.Close() // State is all we came for
			return st
		},
		Timeout:  2 * time.Second,
		Running:  runningProcess,
		Browsers: browserpolicy.Check,
	}
}

// runningProcess tells how the agent listening at addr was started, from
// its process's command line, read with run's own flags.
func runningProcess(addr string) (doctor.Running, error) {
	p, err := doctor.ListeningProcess(addr)
	if err != nil {
		return doctor.Running{}, err
	}
	r := doctor.Running{PID: p.PID, Args: p.Args}
	if len(p.Args) < 2 || p.Args[1] != "run" {
		return r, fmt.Errorf("process %d, listening at %s, was not started as tokenagent run: %s", p.PID, addr, strings.Join(p.Args, " "))
	}
	flags, o := runFlags()
	if err := flags.Parse(p.Args[2:]); err != nil {
		return r, fmt.Errorf("reading the command line of process %d: %w", p.PID, err)
	}
	path := o.config
	if path != "" && !filepath.IsAbs(path) {
		if p.Dir == "" {
			return r, fmt.Errorf("process %d names its config %s relative to its working directory, which cannot be read", p.PID, path)
		}
		path = filepath.Join(p.Dir, path)
	}
	if _, err := os.Stat(path); path != "" && errors.Is(err, fs.ErrNotExist) {
		path = "" // as the service runs without it (see dropMissingConfig)
	}
	r.ConfigFile, r.Flags = path, o.overrides
	if r.Config, err = config.Load(path, o.overrides); err != nil {
		return r, fmt.Errorf("reading the config of process %d as it is now: %w", p.PID, err)
	}
	return r, nil
}

// runDoctor runs `tokenagent doctor` and returns the exit code.
func runDoctor(args []string, stdout, stderr io.Writer) int {
	return doctorWith(systemProbe(), args, stdout, stderr)
}

// doctorWith is runDoctor with the probes given.
func doctorWith(p doctor.Probe, args []string, stdout, stderr io.Writer) int {
	flags := newFlags("doctor")
	cfgFlag := flags.String("config", "", "")
	listen := flags.String("listen", "", "")
	user := flags.Bool("user", false, "")
	if code, ok := parseFlags(flags, doctorUsage, args, stdout, stderr); !ok {
		return code
	}
	if *listen != "" {
		if err := config.CheckListenAddr(*listen); err != nil {
			fmt.Fprintf(stderr, "tokenagent: --listen: %v\n%s", err, doctorUsage)
			return 2
		}
	}
	p.User = *user
	p.Service = func() doctor.Service { return serviceState(p.GOOS, p.User, p.Getenv) }
	fmt.Fprintf(stdout, "tokenagent doctor, version %s\n\n", agentVersion())
	report := doctor.Check(p, *cfgFlag, *listen)
	for _, f := range report.Findings {
		printFinding(stdout, f)
	}
	fmt.Fprintln(stdout)
	problems, warnings := report.Count(doctor.Fail), report.Count(doctor.Warn)
	switch {
	case problems > 0:
		fmt.Fprintf(stdout, "%s, %s: see the fixes above\n", doctor.Plural(problems, "problem"), doctor.Plural(warnings, "warning"))
		return 1
	case warnings > 0:
		fmt.Fprintf(stdout, "no problems, %s\n", doctor.Plural(warnings, "warning"))
	default:
		fmt.Fprintln(stdout, "no problems found")
	}
	return 0
}

// findingTags are how each level starts its line.
var findingTags = map[doctor.Level]string{
	doctor.OK: "[ok]  ", doctor.Info: "[info]", doctor.Warn: "[warn]", doctor.Fail: "[FAIL]",
}

// printFinding prints f, its fix and its details.
func printFinding(w io.Writer, f doctor.Finding) {
	fmt.Fprintf(w, "%s %s: %s\n", findingTags[f.Level], f.Topic, f.Text)
	if f.Fix != "" {
		fmt.Fprintf(w, "       fix: %s\n", f.Fix)
	}
	for _, d := range f.Details {
		fmt.Fprintf(w, "       %s\n", d)
	}
}

// serviceState asks the service manager about the agent's service on
// goos, as `tokenagent service status` would.
func serviceState(goos string, user bool, getenv func(string) string) doctor.Service {
	cfg, err := serviceConfig(goos, user, getenv)
	if err != nil {
		return doctor.Service{Unavailable: err.Error()}
	}
	s, err := newService(&agentProgram{}, cfg)
	if err != nil {
		return doctor.Service{Unavailable: fmt.Sprintf("no service manager found (%v)", err)}
	}
	if why := noServiceManager(s.Platform(), user); why != "" {
		return doctor.Service{Unavailable: "no service manager: " + why}
	}
	st, err := s.Status()
	return doctor.Service{Name: cfg.Name, Platform: s.Platform(), Status: st, Err: err, Log: logHint(goos, user)}
}

// logHint tells where the service's log is.
func logHint(goos string, user bool) string {
	switch goos {
	case "windows":
		return "Event Viewer, Windows Logs, Application, source " + serviceName
	case "darwin":
		return "log show --predicate 'process == \"tokenagent\"'"
	}
	return "journalctl" + userFlag(user) + " -u " + serviceName
}
