package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/tokenagent/tokenagent/internal/localtls"
)

const tlsUsage = `usage: tokenagent tls setup|remove|status [--user] [--config FILE] [--dir DIR]
                          [--trust-dir DIR] [--update-cmd CMD] [--nss-db DIR]...

  setup   create a local CA and a server certificate for localhost, 127.0.0.1
          and ::1, destroy the CA's key, install the CA into the trust stores
          and set [tls] in the config (an earlier local CA is removed first)
  remove  remove the CA from every store setup put it in, delete the files
          and the [tls] keys that name them
  status  print the CA and the server certificate and where the CA is trusted

  --user          the current user's files, config and stores instead of the
                  system-wide ones (browsers' NSS databases are per user either way)
  --config FILE   the config to edit (default: the service's, see --user)
  --dir DIR       where the certificates live (default: the state directory's tls/)
  --trust-dir DIR a Debian-style CA directory to use instead of the default stores
  --update-cmd CMD the command refreshing that directory (default update-ca-certificates)
  --nss-db DIR    an NSS database to use instead of the default stores (repeatable)

By default setup trusts the CA in the system store (update-ca-certificates on
Debian-family systems, the Windows Root store, the macOS System keychain; with
--user the user's store where there is one) and, when certutil is installed,
in the NSS databases of Chrome, Chromium and every Firefox profile in $HOME.
With --trust-dir or --nss-db only the stores named are used.
`

// tlsFlags are the options of the tls commands.
type tlsFlags struct {
	user      bool
	config    string
	dir       string
	trustDir  string
	updateCmd string
	nssDBs    []string
}

// runTLS runs `tokenagent tls …` and returns the exit code.
func runTLS(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, tlsUsage)
		return 2
	}
	verb := args[0]
	flags := flag.NewFlagSet("tls "+verb, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprint(stderr, tlsUsage) }
	var f tlsFlags
	flags.BoolVar(&f.user, "user", false, "the current user's files, config and stores")
	flags.StringVar(&f.config, "config", "", "the config `file` to edit")
	flags.StringVar(&f.dir, "dir", "", "the `directory` of the certificates")
	flags.StringVar(&f.trustDir, "trust-dir", "", "a Debian-style CA `directory`")
	flags.StringVar(&f.updateCmd, "update-cmd", "", "the `command` refreshing --trust-dir")
	flags.Var((*multiFlag)(&f.nssDBs), "nss-db", "an NSS database `directory` (repeatable)")
	if err := flags.Parse(args[1:]); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "tokenagent: unexpected arguments: %q\n%s", flags.Args(), tlsUsage)
		return 2
	}
	var err error
	ctx := context.Background()
	switch verb {
	case "setup":
		err = tlsSetup(ctx, f, stdout)
	case "remove":
		err = tlsRemove(ctx, f, stdout)
	case "status":
		err = tlsStatus(ctx, f, stdout)
	default:
		fmt.Fprintf(stderr, "tokenagent: unknown tls command %q\n%s", verb, tlsUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tokenagent: tls %s: %v\n", verb, err)
		return 1
	}
	return 0
}

func (f tlsFlags) options() localtls.Options {
	return localtls.Options{UpdateCmd: strings.Fields(f.updateCmd)}
}

// explicit tells whether the flags name the stores to use.
func (f tlsFlags) explicit() bool { return f.trustDir != "" || len(f.nssDBs) > 0 }

// stores returns the trust stores setup installs into: the ones the flags
// name, else the platform's (see localtls.SystemStores) and, system-wide,
// the browsers of every user of the computer too: the system-wide agent
// serves them all, and on Linux browsers trust only their own databases.
func (f tlsFlags) stores() []localtls.Store {
	o := f.options()
	if !f.explicit() {
		home, _ := os.UserHomeDir() // without a home there are no browser databases
		stores := localtls.SystemStores(f.user, home, o)
		if !f.user {
			stores = append(stores, usersBrowsers(home, o)...)
		}
		return stores
	}
	var stores []localtls.Store
	if f.trustDir != "" {
		stores = append(stores, &localtls.DebianStore{Dir: f.trustDir, UpdateCmd: o.UpdateCmd})
	}
	for _, db := range f.nssDBs {
		stores = append(stores, &localtls.NSSStore{DB: db})
	}
	return stores
}

// userHomes are where the homes of a computer's users are; a variable for
// tests.
var userHomes = []string{"/home/*", "/Users/*"}

// usersBrowsers returns the browser NSS databases in every user's home but
// own (SystemStores has those), when certutil is installed. certutil run as
// root changes a database's files in place, so they keep their owner.
func usersBrowsers(own string, o localtls.Options) []localtls.Store {
	if _, err := o.FindCertutil(); err != nil {
		return nil
	}
	var stores []localtls.Store
	for _, pattern := range userHomes {
		homes, _ := filepath.Glob(pattern) // the patterns are well-formed
		for _, home := range homes {
			if home == own {
				continue
			}
			for _, db := range localtls.NSSDatabases(home) {
				stores = append(stores, &localtls.NSSStore{DB: db, Certutil: o.Certutil})
			}
		}
	}
	return stores
}

// trustStores returns the stores to look for in's CA in: those setup
// recorded, then those setup would use now (the current user's browsers
// among them). Recorded stores that cannot be opened come back with why.
func (f tlsFlags) trustStores(in *localtls.Installation) (stores []localtls.Store, unopened []error) {
	seen := map[localtls.StoreRef]bool{}
	for _, ref := range in.State.Stores {
		seen[ref] = true
		s, err := localtls.Open(ref, f.options())
		if err != nil {
			unopened = append(unopened, fmt.Errorf("%s: %w", ref, err))
			continue
		}
		stores = append(stores, s)
	}
	for _, s := range f.stores() {
		if !seen[s.Ref()] {
			stores = append(stores, s)
			seen[s.Ref()] = true
		}
	}
	return stores, unopened
}

func (f tlsFlags) tlsDir() (string, error) {
	if f.dir != "" {
		return filepath.Abs(f.dir)
	}
	return tlsDir(runtime.GOOS, f.user, os.Getenv)
}

func (f tlsFlags) configPath() (string, error) {
	if f.config != "" {
		return filepath.Abs(f.config)
	}
	return configPath(runtime.GOOS, f.user, os.Getenv)
}

// tlsDir returns where `tls setup` keeps the certificates on goos:
//
//	         system                                            user
//	linux    /var/lib/tokenagent/tls                           $XDG_STATE_HOME/tokenagent/tls (~/.local/state/…)
//	darwin   /Library/Application Support/tokenagent/tls       ~/Library/Application Support/tokenagent/tls
//	windows  %ProgramData%\tokenagent\tls                      %LOCALAPPDATA%\tokenagent\tls
func tlsDir(goos string, user bool, getenv func(string) string) (string, error) {
	return agentPath(stateDirs, goos, user, getenv, "tls")
}

func tlsSetup(ctx context.Context, f tlsFlags, stdout io.Writer) error {
	dir, err := f.tlsDir()
	if err != nil {
		return err
	}
	cfgPath, err := f.configPath()
	if err != nil {
		return err
	}
	stores := f.stores()
	in, setupErr := localtls.Setup(ctx, dir, stores, f.options(), time.Now())
	if in == nil {
		return setupErr
	}
	fmt.Fprintf(stdout, "created the local CA %q (its key is destroyed)\n", in.CA.Subject.CommonName)
	fmt.Fprintf(stdout, "  sha256 %s, expires %s\n", localtls.Fingerprint(in.CA), in.CA.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "server certificate %s, expires %s\n", in.CertPath(), in.Cert.NotAfter.UTC().Format(time.RFC3339))
	for _, ref := range in.State.Stores {
		fmt.Fprintf(stdout, "trusted in %s\n", ref)
	}
	if len(stores) == 0 {
		fmt.Fprintln(stdout, "no trust store found: browsers will not trust the certificate")
	}
	if !f.explicit() {
		if _, err := f.options().FindCertutil(); err != nil {
			fmt.Fprintf(stdout, "note: %v, to trust the CA in Chrome and Firefox\n", err)
		}
	}
	if err := editConfigFile(cfgPath, func(doc string) (string, error) {
		return setTLSKeys(doc, in.CertPath(), in.KeyPath())
	}); err != nil {
		return errors.Join(setupErr, err)
	}
	fmt.Fprintf(stdout, "[tls] set in %s; restart the agent to serve HTTPS/WSS\n", cfgPath)
	return setupErr
}

func tlsRemove(ctx context.Context, f tlsFlags, stdout io.Writer) error {
	dir, err := f.tlsDir()
	if err != nil {
		return err
	}
	cfgPath, err := f.configPath()
	if err != nil {
		return err
	}
	in, err := localtls.Load(dir)
	switch {
	case errors.Is(err, localtls.ErrNotInstalled):
		fmt.Fprintf(stdout, "no local CA installed in %s\n", dir)
	case err != nil:
		return err
	default:
		if err := localtls.Uninstall(ctx, dir, f.options()); err != nil {
			return err
		}
		for _, ref := range in.State.Stores {
			fmt.Fprintf(stdout, "removed the CA from %s\n", ref)
		}
		fmt.Fprintf(stdout, "deleted the certificates in %s\n", dir)
	}
	// Only the keys naming our files go: a certificate of the user's own
	// choosing stays configured.
	ours := filepath.Join(dir, localtls.CertFile)
	removed := false
	err = editConfigFile(cfgPath, func(doc string) (string, error) {
		var c struct {
			TLS struct{ Cert string } `toml:"tls"`
		}
		if _, err := toml.Decode(doc, &c); err != nil {
			return "", fmt.Errorf("parsing: %w", err)
		}
		if c.TLS.Cert != ours {
			return doc, nil
		}
		removed = true
		return removeTLSKeys(doc)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if removed {
		fmt.Fprintf(stdout, "[tls] removed from %s\n", cfgPath)
	}
	return nil
}

func tlsStatus(ctx context.Context, f tlsFlags, stdout io.Writer) error {
	dir, err := f.tlsDir()
	if err != nil {
		return err
	}
	in, err := localtls.Load(dir)
	if errors.Is(err, localtls.ErrNotInstalled) {
		fmt.Fprintf(stdout, "no local CA installed in %s\n", dir)
		return nil
	}
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Fprintf(stdout, "local CA  %s\n", in.CA.Subject.CommonName)
	fmt.Fprintf(stdout, "  sha256  %s\n", localtls.Fingerprint(in.CA))
	fmt.Fprintf(stdout, "  expires %s\n", in.CA.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "server certificate %s\n", in.CertPath())
	fmt.Fprintf(stdout, "  expires %s (%d days left)\n", in.Cert.NotAfter.UTC().Format(time.RFC3339), int(in.Cert.NotAfter.Sub(now).Hours()/24))
	if localtls.RenewalDue(in.Cert, now) {
		fmt.Fprintln(stdout, "  renew it: run tokenagent tls setup")
	}
	stores, unopened := f.trustStores(in)
	for _, err := range unopened {
		fmt.Fprintln(stdout, err)
	}
	for _, s := range stores {
		ok, err := s.Contains(ctx, in.CA)
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "%s: unknown: %v\n", s.Ref(), err)
		case ok:
			fmt.Fprintf(stdout, "%s: installed\n", s.Ref())
		default:
			fmt.Fprintf(stdout, "%s: not installed\n", s.Ref())
		}
	}
	return nil
}

// renewLocalTLS renews the certificate cfg serves with when it is the one
// `tls setup` made and has under 30 days left (see localtls.Renew), with
// the commands of o. When the agent lacks the rights to, it logs a warning
// and serves the old certificate; doctor tells the user too.
func renewLocalTLS(ctx context.Context, cfg Config, log *slog.Logger, o localtls.Options) {
	if cfg.TLS.Cert == "" {
		return
	}
	dir := filepath.Dir(cfg.TLS.Cert)
	in, err := localtls.Load(dir)
	if err != nil || in.CertPath() != filepath.Clean(cfg.TLS.Cert) || in.KeyPath() != filepath.Clean(cfg.TLS.Key) {
		return // not a certificate of ours
	}
	in, renewed, err := localtls.Renew(ctx, dir, o, time.Now())
	switch {
	case renewed && err == nil:
		log.Info("renewed the local TLS certificate with a new local CA", "expires", in.Cert.NotAfter.UTC(), "ca_sha256", localtls.Fingerprint(in.CA))
	case renewed:
		log.Warn("renewed the local TLS certificate, but not every trust store took the new local CA", "err", err)
	case err != nil:
		log.Warn("the local TLS certificate is due for renewal and the agent cannot renew it: run tokenagent tls setup",
			"expires", in.Cert.NotAfter.UTC(), "err", err)
	}
}

// editConfigFile replaces the content of the config file at path with
// edit's result, creating the file (and its directory) when missing.
func editConfigFile(path string, edit func(doc string) (string, error)) error {
	data, err := os.ReadFile(path)
	perm := fs.FileMode(0o644)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("reading the config: %w", err)
	default:
		if fi, err := os.Stat(path); err == nil {
			perm = fi.Mode().Perm()
		}
	}
	doc, err := edit(string(data))
	if err != nil {
		return fmt.Errorf("editing %s: %w", path, err)
	}
	if doc == string(data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating the config directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config.toml.tmp*")
	if err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.WriteString(doc); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the config: %w", err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing the config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the config: %w", err)
	}
	return nil
}

var (
	// tlsKeyLine matches a cert or key assignment inside [tls].
	tlsKeyLine = regexp.MustCompile(`^\s*(cert|key)\s*=`)
	// rootTLSLine matches tls set at the top level: `tls = {…}`, `tls.cert = …`.
	rootTLSLine = regexp.MustCompile(`^\s*tls\s*[.=]`)
)

// tableHeader returns the table name of a `[name]` or `[[name]]` line, and
// whether line is a header at all.
func tableHeader(line string) (string, bool) {
	s := strings.TrimSpace(line)
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return "", false
	}
	return strings.Join(strings.Fields(strings.Trim(s, "[]")), ""), true
}

// tlsSection splits doc into lines and finds the [tls] table: the index of
// its header (-1 when there is none) and of the line after its last line.
// It refuses a doc that sets tls in another form, which a line edit could
// not keep correct.
func tlsSection(doc string) (lines []string, start, end int, err error) {
	lines = strings.SplitAfter(doc, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	start, end = -1, -1
	inRoot := true
	for i, l := range lines {
		name, ok := tableHeader(l)
		switch {
		case !ok:
			if inRoot && rootTLSLine.MatchString(l) {
				return nil, 0, 0, fmt.Errorf("line %d sets tls outside a [tls] table; write it as a [tls] table", i+1)
			}
			continue
		case start >= 0 && end < 0:
			end = i
		}
		inRoot = false
		switch {
		case name == "tls":
			if start >= 0 {
				return nil, 0, 0, fmt.Errorf("line %d: a second [tls] table", i+1)
			}
			start = i
		case strings.HasPrefix(name, "tls."):
			return nil, 0, 0, fmt.Errorf("line %d: [%s] is not a table tls can have", i+1, name)
		}
	}
	if start >= 0 && end < 0 {
		end = len(lines)
	}
	return lines, start, end, nil
}

// setTLSKeys returns doc with tls.cert and tls.key set: the [tls] table's
// two keys replaced, or a [tls] table appended when there is none. Other
// lines stay as they are.
func setTLSKeys(doc, cert, key string) (string, error) {
	lines, start, end, err := tlsSection(doc)
	if err != nil {
		return "", err
	}
	want := map[string]string{
		"cert": "cert = " + tomlString(cert) + "\n",
		"key":  "key = " + tomlString(key) + "\n",
	}
	var out []string
	if start < 0 {
		out = lines
		if n := len(out); n > 0 {
			if !strings.HasSuffix(out[n-1], "\n") {
				out[n-1] += "\n"
			}
			out = append(out, "\n")
		}
		out = append(out, "[tls]\n", want["cert"], want["key"])
	} else {
		out = append(out, lines[:start+1]...)
		done := map[string]bool{}
		var body []string
		for _, l := range lines[start+1 : end] {
			if m := tlsKeyLine.FindStringSubmatch(l); m != nil {
				if !done[m[1]] {
					body = append(body, want[m[1]])
					done[m[1]] = true
				}
				continue
			}
			body = append(body, l)
		}
		for _, k := range []string{"key", "cert"} { // missing keys go first, cert before key
			if !done[k] {
				body = append([]string{want[k]}, body...)
			}
		}
		if !strings.HasSuffix(out[len(out)-1], "\n") {
			out[len(out)-1] += "\n"
		}
		out = append(out, body...)
		out = append(out, lines[end:]...)
	}
	res := strings.Join(out, "")
	if err := checkTLSKeys(res, cert, key); err != nil {
		return "", err
	}
	return res, nil
}

// removeTLSKeys returns doc without tls.cert and tls.key, and without the
// [tls] header when nothing else is left in the table.
func removeTLSKeys(doc string) (string, error) {
	lines, start, end, err := tlsSection(doc)
	if err != nil {
		return "", err
	}
	if start < 0 {
		return doc, nil
	}
	var body []string
	empty := true
	for _, l := range lines[start+1 : end] {
		if tlsKeyLine.MatchString(l) {
			continue
		}
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			empty = false
		}
		body = append(body, l)
	}
	out := append([]string{}, lines[:start]...)
	if !empty {
		out = append(out, lines[start])
	}
	out = append(out, body...)
	out = append(out, lines[end:]...)
	res := strings.Join(out, "")
	if empty && strings.TrimSpace(res) != "" {
		res = strings.TrimRight(res, "\n") + "\n"
	}
	if err := checkTLSKeys(res, "", ""); err != nil {
		return "", err
	}
	return res, nil
}

// checkTLSKeys checks that doc parses and sets tls.cert and tls.key to
// cert and key.
func checkTLSKeys(doc, cert, key string) error {
	var c struct {
		TLS struct{ Cert, Key string } `toml:"tls"`
	}
	if _, err := toml.Decode(doc, &c); err != nil {
		return fmt.Errorf("the edited config does not parse: %w", err)
	}
	if c.TLS.Cert != cert || c.TLS.Key != key {
		return fmt.Errorf("the edited config sets tls.cert %q and tls.key %q, not %q and %q", c.TLS.Cert, c.TLS.Key, cert, key)
	}
	return nil
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
