// Command tokenagent is the local agent that lets web pages use the crypto
// tokens plugged into this computer. See PROTOCOL.md for what it serves.
//
// Usage:
//
//	tokenagent run [--config FILE] [--listen ADDR] [--module PATH]... [--allow-origin ORIGIN]... [--log-level LEVEL]
//	tokenagent service install|uninstall|start|stop|restart|status [--user]
//	tokenagent doctor [--config FILE] [--listen ADDR] [--user]
//	tokenagent tls setup|remove|status [--user] [--config FILE]
//	tokenagent version
//	tokenagent help [COMMAND]
//
// Every command prints its usage to stdout and exits 0 with -h or --help.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/internal/localtls"
	"github.com/tokenagent/tokenagent/internal/state"
	"github.com/tokenagent/tokenagent/token"
	"github.com/tokenagent/tokenagent/ws"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand: its name, what it does in a line for the
// usage, and how it runs (it returns the exit code).
type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

// commands are the subcommands, in the order the usage lists them. help
// is dispatched apart, since it reads this list.
var commands = []command{
	{"run", "run the agent in the foreground (or as the service, when the service manager starts it)", runCommand},
	{"service", "install, uninstall, start, stop or restart the agent's service, or tell its state", runService},
	{"doctor", "ask the running agent what it has, check the setup and say how to fix what is wrong", runDoctor},
	{"tls", "set up, remove or show the locally trusted certificate that lets HTTPS pages use wss://", runTLS},
	{"version", "print the agent's version and the protocol's", runVersion},
	{"help", "print this help, or a command's: tokenagent help COMMAND", nil},
}

// usage lists the commands, each with its line.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: tokenagent COMMAND [flags]\n\nLets web pages use the crypto tokens plugged into this computer (docs/PROTOCOL.md).\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\n\"tokenagent COMMAND --help\" prints a command's flags.\n")
	return b.String()
}

// run dispatches a command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "--version":
		name = "version"
	}
	if name == "help" {
		return runHelp(args[1:], stdout, stderr)
	}
	for _, c := range commands {
		if c.name == name {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "tokenagent: unknown command %q\n%s", name, usage())
	return 2
}

// runHelp prints the usage, or with a command's name that command's, as
// its --help would.
func runHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0 || len(args) == 1 && isHelp(args[0]):
		fmt.Fprint(stdout, usage())
		return 0
	case len(args) == 1:
		for _, c := range commands {
			if c.name == args[0] {
				return c.run([]string{"--help"}, stdout, stderr)
			}
		}
	}
	fmt.Fprintf(stderr, "tokenagent: help %q: no such command\n%s", args, usage())
	return 2
}

const versionUsage = `usage: tokenagent version

Prints the agent's version and the protocol version it speaks.
`

// runVersion runs `tokenagent version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if code, ok := parseFlags(newFlags("version"), versionUsage, args, stdout, stderr); !ok {
		return code
	}
	fmt.Fprintf(stdout, "tokenagent %s (protocol %d)\n", agentVersion(), agent.Protocol)
	return 0
}

// runAgent runs the agent until ctx ends, then shuts it down gracefully.
// ready, when set, is told the address the agent listens on.
func runAgent(ctx context.Context, args []string, stderr io.Writer, ready func(addr net.Addr)) error {
	fs, o := runFlags()
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.level}))

	cfg, err := config.Load(o.config, o.overrides)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, log, ready)
}

// serve wires the agent together from cfg and serves until ctx ends.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(addr net.Addr)) error {
	if cfg.NonLoopback() {
		log.Warn("listening on a non-loopback address: other computers can reach the agent", "listen", cfg.Listen)
	}
	paths := cfg.Modules
	if len(paths) == 0 {
		paths = token.KnownModules()
		log.Info("no modules configured; using the known modules found on this system", "modules", paths)
	}
	statePath := cfg.StateDir
	if statePath == "" {
		var err error
		if statePath, err = stateDir(); err != nil {
			return err
		}
	}
	states, err := state.Open(statePath)
	if err != nil {
		return err
	}
	auditPath := cfg.AuditLog
	if auditPath == "" {
		auditPath = filepath.Join(states.Path(), "audit.log")
	}
	auditLog, err := audit.Open(auditPath, audit.Rotation{MaxBytes: cfg.AuditMaxBytes, Keep: cfg.AuditKeep}, log)
	if err != nil {
		return err
	}
	defer auditLog.Close()
	log.Info("state", "dir", states.Path(), "auditLog", auditPath)

	hw := token.NewManager(paths, log)
	defer func() {
		if err := hw.Close(); err != nil {
			log.Warn("closing modules", "err", err)
		}
	}()
	// The agent's Run subscribes to the watcher's changes.
	readers := token.WatchPCSC(log, nil)
	defer func() {
		if err := readers.Close(); err != nil {
			log.Warn("stopping the PC/SC watcher", "err", err)
		}
	}()
	hw.FollowReaders(readers.State) // a card no module knows is probed once per insertion
	media := cfg.Media
	if len(media) == 0 {
		media = agent.DefaultMedia
	}
	a := agent.New(hw, agent.Options{
		Version:         agentVersion(),
		RenewBeforeDays: cfg.RenewBeforeDays,
		Media:           media,
		Audit:           auditLog,
		State:           states,
		Logger:          log,
		Readers:         readers,
		PollInterval:    cfg.PollInterval,
	})
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		a.Run(watchCtx)
	}()
	defer func() { // before the modules close
		stopWatch()
		<-watchDone
	}()

	// Renew at start and then twice a day: the server loads a renewed
	// certificate from disk by itself.
	renewLocalTLS(ctx, cfg, log, localtls.Options{})
	renewCtx, stopRenewing := context.WithCancel(ctx)
	defer stopRenewing()
	go func() {
		tick := time.NewTicker(12 * time.Hour)
		defer tick.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-tick.C:
				renewLocalTLS(renewCtx, cfg, log, localtls.Options{})
			}
		}
	}()
	ln, err := ws.Listen(cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if ln.Missing != nil {
		log.Warn("listening on one address of loopback only: localhost and the other address are not the agent's own origins",
			"err", ln.Missing, "addrs", fmt.Sprint(ln.Addrs()))
	}
	idle := cfg.IdleTimeout
	if idle == 0 {
		idle = ws.NoIdleTimeout
	}
	srv := ws.New(ws.Config{
		AllowedOrigins:          cfg.AllowedOrigins,
		AllowNoOrigin:           cfg.AllowNoOrigin,
		MaxConnections:          cfg.MaxConnections,
		MaxConnectionsPerOrigin: cfg.MaxConnectionsPerOrigin,
		IdleTimeout:             idle,
		MaxMessageBytes:         cfg.MaxMessageBytes,
		OriginMethods:           cfg.OriginMethods(),
		OriginPINEntry:          cfg.OriginPINEntry(),
		ConsentTimeout:          cfg.ConsentTimeout,
		TLS:                     cfg.TLS.Cert != "",
		Version:                 agentVersion(),
		Logger:                  log,
	}, a)
	served := make(chan error, 1)
	go func() {
		if cfg.TLS.Cert != "" {
			served <- srv.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	log.Info("tokenagent listening", "addr", ln.Addr().String(), "version", agentVersion())
	if ready != nil {
		ready(ln.Addr())
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, ws.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// stateDir is where the agent keeps its state (the wrong-PIN throttle, and
// the audit log by default) unless the config says: the system-wide state directory when run as
// root (and on Windows, where the agent runs as a system service), else
// the user's (see config.StateDir). There is no fallback: a shared place
// such as $TMPDIR would let other users reach the throttle and the log.
func stateDir() (string, error) {
	user := runtime.GOOS != "windows" && os.Geteuid() != 0
	dir, err := config.StateDir(runtime.GOOS, user, os.Getenv)
	if err != nil {
		return "", fmt.Errorf("%w; the agent keeps its PIN throttle and audit log there (or set state_dir in the config)", err)
	}
	return dir, nil
}

// agentVersion is the version set at build time, else the module version
// the binary was built from.
func agentVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
