// Command tokenagent is the local agent that lets web pages use the crypto
// tokens plugged into this computer. See PROTOCOL.md for what it serves.
//
// Usage:
//
//	tokenagent run [--config FILE] [--listen ADDR] [--module PATH]... [--allow-origin ORIGIN]...
//	tokenagent service install|uninstall|start|stop|restart|status [--user]
//	tokenagent doctor [--config FILE] [--user]
//	tokenagent tls setup|remove|status [--user] [--config FILE]
//	tokenagent version
package main

import (
	"context"
	"errors"
	"flag"
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

const usage = `usage:
  tokenagent run [--config FILE] [--listen ADDR] [--module PATH]... [--allow-origin ORIGIN]...
  tokenagent service install|uninstall|start|stop|restart|status [--user]
  tokenagent doctor [--config FILE] [--user]
  tokenagent tls setup|remove|status [--user] [--config FILE]
  tokenagent version
`

// run dispatches a command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCommand(args[1:], stderr)
	case "service":
		return runService(args[1:], stdout, stderr)
	case "doctor":
		return runDoctor(args[1:], stdout, stderr)
	case "tls":
		return runTLS(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "tokenagent %s (protocol %d)\n", agentVersion(), agent.Protocol)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "tokenagent: unknown command %q\n%s", args[0], usage)
		return 2
	}
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runAgent runs the agent until ctx ends, then shuts it down gracefully.
// ready, when set, is told the address the agent listens on.
func runAgent(ctx context.Context, args []string, stderr io.Writer, ready func(addr net.Addr)) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration `file` (TOML)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	var o config.Overrides
	fs.StringVar(&o.Listen, "listen", "", "listen `address`, overriding the config")
	fs.Var((*multiFlag)(&o.Modules), "module", "PKCS#11 module `path` (repeatable), replacing the config's list")
	fs.Var((*multiFlag)(&o.AllowOrigins), "allow-origin", "allowed page `origin` (repeatable), replacing the config's list")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("parsing --log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := config.Load(*configPath, o)
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
