package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tokenagent/tokenagent/internal/config"
)

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// newFlags returns an empty flag set for the command name. It prints
// nothing itself: parseFlags says what is wrong, with the command's own
// usage text rather than the flag package's listing.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args with fs and tells whether the command goes on
// (ok) or exits with code. Asked for help (-h, --help) it prints usage to
// stdout and the command exits 0, as asking is no mistake; a flag it cannot
// parse, or an argument left over, is told on stderr with usage, and the
// command exits 2.
func parseFlags(fs *flag.FlagSet, usage string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0, false
	case err != nil:
		fmt.Fprintf(stderr, "tokenagent: %v\n%s", err, usage)
		return 2, false
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "tokenagent: unexpected arguments: %q\n%s", fs.Args(), usage)
		return 2, false
	}
	return 0, true
}

// isHelp tells whether arg asks for help, where a command expects its
// action first (service, tls).
func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

const runUsage = `usage: tokenagent run [--config FILE] [--listen ADDR] [--module PATH]... [--allow-origin ORIGIN]...
                     [--log-level LEVEL]

Runs the agent in the foreground until SIGINT or SIGTERM, logging to stderr
(or as the service, when the service manager starts it).

  --config FILE          the configuration (TOML, docs/PROTOCOL.md section 6);
                         without it, the defaults
  --listen ADDR          the address to listen on, overriding the config's listen
                         (default 127.0.0.1:24321)
  --module PATH          a PKCS#11 module (repeatable), replacing the config's modules
  --allow-origin ORIGIN  a web page's origin that may connect (repeatable),
                         replacing the config's allowed_origins
  --log-level LEVEL      debug, info, warn or error (default info)

Exit code 1 when the agent cannot start (a config error, the port taken) or
stops on an error, 2 for a command line it does not understand.
`

// runOptions are what the flags of `tokenagent run` say.
type runOptions struct {
	config    string // the config file; empty: the defaults
	level     slog.Level
	overrides config.Overrides
}

// runFlags returns the flag set of `tokenagent run` and the options it
// fills. doctor parses a running agent's command line with it too.
func runFlags() (*flag.FlagSet, *runOptions) {
	fs := newFlags("run")
	o := &runOptions{level: slog.LevelInfo}
	fs.StringVar(&o.config, "config", "", "")
	fs.Var((*levelFlag)(&o.level), "log-level", "")
	fs.StringVar(&o.overrides.Listen, "listen", "", "")
	fs.Var((*multiFlag)(&o.overrides.Modules), "module", "")
	fs.Var((*multiFlag)(&o.overrides.AllowOrigins), "allow-origin", "")
	return fs, o
}

// logLevels are the levels --log-level takes, as the usage and the
// contract name them.
var logLevels = []struct {
	name  string
	level slog.Level
}{
	{"debug", slog.LevelDebug}, {"info", slog.LevelInfo}, {"warn", slog.LevelWarn}, {"error", slog.LevelError},
}

// levelFlag is --log-level: one of logLevels, in any case. slog's own
// parser would also take "info+2" and answers a mistake with "slog: level
// string "loud": unknown name", which does not say what would do.
type levelFlag slog.Level

func (l *levelFlag) String() string { return slog.Level(*l).String() }

func (l *levelFlag) Set(v string) error {
	names := make([]string, len(logLevels))
	for i, ll := range logLevels {
		if strings.EqualFold(v, ll.name) {
			*l = levelFlag(ll.level)
			return nil
		}
		names[i] = ll.name
	}
	return fmt.Errorf("the levels are %s", strings.Join(names, ", "))
}
