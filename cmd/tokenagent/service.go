package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/installer"
	"github.com/tokenagent/tokenagent/internal/config"
)

// The service's identity. On macOS the name is the launchd label, which
// also names the property list file.
const (
	serviceName        = "tokenagent"
	launchdLabel       = "com.tokenagent.agent"
	serviceDisplayName = "tokenagent"
	serviceDescription = "Lets web pages use the crypto tokens plugged into this computer"
)

// The seams between the commands and the service manager. Tests replace
// newService with a fake that records the calls, so that no test touches
// the init system of the machine it runs on.
var (
	newService  = service.New
	pid1Name    = func() ([]byte, error) { return os.ReadFile("/proc/1/comm") }
	interactive = service.Interactive // false when the service manager started us
	exitProcess = os.Exit             // how a service tells its manager it failed
)

const serviceUsage = `usage: tokenagent service install|uninstall|start|stop|restart|status [--user]

  --user  the current user's service (systemd user unit, launchd LaunchAgent)
          instead of the system-wide one; not on Windows

status exits as LSB init scripts do: 0 when the service runs, 3 when it is
stopped or not installed, 4 when its state cannot be known (no service
manager runs here, or it did not answer).
`

// serviceNameFor returns the service's name on goos.
func serviceNameFor(goos string) string {
	if goos == "darwin" {
		return launchdLabel
	}
	return serviceName
}

// serviceConfig returns the service definition for goos: the system-wide
// service, or with user set the current user's. The service runs
// `tokenagent run --config FILE` with the platform's standard config file
// (see config.File) and is restarted when it fails. On Linux and macOS the
// unit and the property list are installer's, so that what `service
// install` writes and what the packages install are the same text.
func serviceConfig(goos string, user bool, getenv func(string) string) (*service.Config, error) {
	if user && goos == "windows" {
		return nil, errors.New("per-user services are not supported on Windows: install the system service, without --user")
	}
	cfgPath, err := config.File(goos, user, getenv)
	if err != nil {
		return nil, err
	}
	opts := service.KeyValue{}
	switch goos {
	case "windows":
		opts["OnFailure"] = "restart"
		opts["OnFailureDelayDuration"] = "2s"
	case "darwin":
		plist, err := installer.LaunchdTemplate()
		if err != nil {
			return nil, fmt.Errorf("preparing the launchd job: %w", err)
		}
		opts["UserService"] = user
		opts["LaunchdConfig"] = plist // KeepAlive unless it exits successfully, RunAtLoad
	default:
		unit := installer.SystemdUnit
		if user {
			unit = installer.SystemdUserUnit
		}
		script, err := installer.SystemdTemplate(unit)
		if err != nil {
			return nil, fmt.Errorf("preparing the systemd unit: %w", err)
		}
		opts["UserService"] = user
		opts["Restart"] = "on-failure" // for init systems other than systemd
		opts["SystemdScript"] = script
	}
	return &service.Config{
		Name:        serviceNameFor(goos),
		DisplayName: serviceDisplayName,
		Description: serviceDescription,
		Arguments:   []string{"run", "--config", cfgPath},
		Option:      opts,
	}, nil
}

// runService runs `tokenagent service ACTION [--user]` and returns the exit
// code.
func runService(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprint(stdout, serviceUsage)
		return 0
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		fmt.Fprint(stderr, serviceUsage)
		return 2
	}
	action := args[0]
	if _, ok := serviceVerbs[action]; !ok && action != "status" {
		fmt.Fprintf(stderr, "tokenagent: unknown service action %q\n%s", action, serviceUsage)
		return 2
	}
	flags := newFlags("service " + action)
	user := flags.Bool("user", false, "")
	if code, ok := parseFlags(flags, serviceUsage, args[1:], stdout, stderr); !ok {
		return code
	}
	cfg, err := serviceConfig(runtime.GOOS, *user, os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "tokenagent: %v\n", err)
		return 1
	}
	s, err := newService(&agentProgram{}, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tokenagent: finding the service manager: %v\n", err)
		return 1
	}
	kind := "system service"
	if *user {
		kind = "user service"
	}
	if why := noServiceManager(s.Platform(), *user); why != "" {
		if action == "status" {
			fmt.Fprintf(stdout, "%s (%s): no service manager: %s\n", s, kind, why)
			return 4
		}
		fmt.Fprintf(stderr, "tokenagent: %s the %s: no service manager: %s\n", serviceVerbs[action], kind, why)
		return 1
	}
	var done string
	switch action {
	case "install":
		err = s.Install()
		done = fmt.Sprintf("installed %s as a %s (%s); it reads %s (defaults while that file is missing).\nStart it with: tokenagent service start%s",
			cfg.Name, kind, s.Platform(), cfg.Arguments[2], userFlag(*user))
	case "uninstall":
		err = s.Uninstall()
		done = fmt.Sprintf("uninstalled the %s %s", kind, cfg.Name)
	case "start":
		err = s.Start()
		done = fmt.Sprintf("started the %s %s", kind, cfg.Name)
	case "stop":
		err = s.Stop()
		done = fmt.Sprintf("stopped the %s %s", kind, cfg.Name)
	case "restart":
		err = s.Restart()
		done = fmt.Sprintf("restarted the %s %s", kind, cfg.Name)
	default: // status
		return printServiceStatus(s, kind, stdout, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenagent: %s the %s: %v%s\n", serviceVerbs[action], kind, err, permissionHint(err, *user))
		return 1
	}
	fmt.Fprintln(stdout, done)
	return 0
}

// serviceVerbs name the control actions in error messages; status is the
// other action.
var serviceVerbs = map[string]string{
	"install": "installing", "uninstall": "uninstalling", "start": "starting",
	"stop": "stopping", "restart": "restarting",
}

// noServiceManager tells why no service manager can run the service, or ""
// when one can. kardianos/service falls back to System V init scripts on a
// Linux where it finds no other init system, such as a container whose
// PID 1 is its own program and runs no scripts at all, and it has no user
// services there; `service status` would then fail with the bare "exit
// status 1" of the `service` command.
func noServiceManager(platform string, user bool) string {
	if platform != "unix-systemv" {
		return ""
	}
	if user {
		return "user services need systemd, which is not running"
	}
	comm, err := pid1Name()
	if err != nil {
		return ""
	}
	if name := strings.TrimSpace(string(comm)); name != "init" {
		return fmt.Sprintf("process 1 is %q, not an init system", name)
	}
	return ""
}

// userFlag returns " --user" when user is set, for commands we suggest.
func userFlag(user bool) string {
	if user {
		return " --user"
	}
	return ""
}

// permissionHint suggests what to do when the service manager refused.
func permissionHint(err error, user bool) string {
	if !errors.Is(err, fs.ErrPermission) || user {
		return ""
	}
	return " (the system service needs root or Administrator; or use --user)"
}

// printServiceStatus prints the state of the service s and returns the
// exit code of `service status`.
func printServiceStatus(s service.Service, kind string, stdout, stderr io.Writer) int {
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		fmt.Fprintf(stdout, "%s (%s, %s): not installed\n", s, kind, s.Platform())
		return 3
	case err != nil:
		fmt.Fprintf(stderr, "tokenagent: reading the service status: %v\n", err)
		return 4
	case st == service.StatusRunning:
		fmt.Fprintf(stdout, "%s (%s, %s): running\n", s, kind, s.Platform())
		return 0
	case st == service.StatusStopped:
		fmt.Fprintf(stdout, "%s (%s, %s): stopped\n", s, kind, s.Platform())
		return 3
	}
	fmt.Fprintf(stdout, "%s (%s, %s): state unknown\n", s, kind, s.Platform())
	return 4
}

// runCommand runs `tokenagent run`: in the foreground until SIGINT or
// SIGTERM, logging to stderr, or, when the service manager started it, as a
// service (see runManaged).
func runCommand(args []string, stdout, stderr io.Writer) int {
	// runAgent parses the flags again; this pass answers --help and
	// misused flags as every command does, before there is any agent.
	fs, _ := runFlags()
	if code, ok := parseFlags(fs, runUsage, args, stdout, stderr); !ok {
		return code
	}
	if !interactive() {
		return runManaged(args, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runAgent(ctx, args, stderr, nil); err != nil {
		fmt.Fprintf(stderr, "tokenagent: %v\n", err)
		return 1
	}
	return 0
}

// runManaged runs the agent under the service manager, which tells it when
// to stop. Logs go to the manager: on Linux stderr, which systemd hands to
// journald; on macOS and Windows, where a service's stderr goes nowhere,
// the service logger (syslog into the unified log, the Event Log). A config
// file that does not exist means the defaults, so that a fresh install
// runs without one.
func runManaged(args []string, stderr io.Writer) int {
	prg := &agentProgram{log: stderr, exit: exitProcess}
	s, err := newService(prg, &service.Config{Name: serviceNameFor(runtime.GOOS)})
	if err != nil {
		fmt.Fprintf(stderr, "tokenagent: finding the service manager: %v\n", err)
		return 1
	}
	if runtime.GOOS != "linux" {
		if l, err := s.Logger(nil); err == nil {
			prg.log = &serviceLogWriter{l: l}
		} else {
			fmt.Fprintf(stderr, "tokenagent: opening the service log, logging to stderr: %v\n", err)
		}
	}
	prg.args = dropMissingConfig(args, prg.log)
	if err := s.Run(); err != nil {
		fmt.Fprintf(prg.log, "tokenagent: %v\n", err)
		return 1
	}
	return 0
}

// dropMissingConfig returns args without their --config flag when the file
// it names does not exist, and says so on log.
func dropMissingConfig(args []string, log io.Writer) []string {
	for i, a := range args {
		var file string
		var n int
		switch {
		case (a == "--config" || a == "-config") && i+1 < len(args):
			file, n = args[i+1], 2
		case strings.HasPrefix(a, "--config="), strings.HasPrefix(a, "-config="):
			file, n = a[strings.IndexByte(a, '=')+1:], 1
		default:
			continue
		}
		if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
			return args
		}
		fmt.Fprintf(log, "tokenagent: no config file at %s; using the defaults\n", file)
		return append(args[:i:i], args[i+n:]...)
	}
	return args
}

// agentProgram is the agent as a kardianos/service program: Start starts
// it and returns, Stop stops it and waits.
type agentProgram struct {
	args []string
	log  io.Writer
	exit func(code int) // called when the agent stops on its own

	cancel context.CancelFunc
	done   chan error
}

// Start starts the agent in a goroutine. An agent that stops by itself
// (the port taken, a config error) ends the process with exit code 1, the
// only way to tell every service manager that it failed and should be
// restarted.
func (p *agentProgram) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan error, 1)
	go func() {
		err := runAgent(ctx, p.args, p.log, nil)
		if ctx.Err() == nil {
			fmt.Fprintf(p.log, "tokenagent: %v\n", err)
			p.exit(1)
		}
		p.done <- err
	}()
	return nil
}

// Stop stops the agent and waits until it has shut down.
func (p *agentProgram) Stop(service.Service) error {
	p.cancel()
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		return errors.New("stopping the agent: still running after 20s")
	}
}

// serviceLogWriter passes the agent's log lines to a service logger, at the
// level of the line: slog's level=ERROR and our "tokenagent: " failures as
// errors, level=WARN as warnings, the rest as information. It is safe for
// concurrent use.
type serviceLogWriter struct {
	l       service.Logger
	mu      sync.Mutex
	partial []byte // the start of a line whose newline has not come yet
}

func (w *serviceLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		var err error
		switch {
		case strings.Contains(line, " level=ERROR "), strings.HasPrefix(line, "tokenagent: "):
			err = w.l.Error(line)
		case strings.Contains(line, " level=WARN "):
			err = w.l.Warning(line)
		default:
			err = w.l.Info(line)
		}
		if err != nil {
			return len(p), fmt.Errorf("writing to the service log: %w", err)
		}
	}
}
