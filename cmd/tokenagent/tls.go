package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tokenagent/tokenagent/internal/config"
	"github.com/tokenagent/tokenagent/internal/localtls"
	"github.com/tokenagent/tokenagent/internal/state"
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
Debian and Ubuntu, update-ca-trust on Fedora and RHEL, update-ca-certificates
on openSUSE, trust on Arch, the Windows Root store, the macOS System keychain;
with --user the user's store where there is one) and, when certutil is
installed, in the NSS databases of Chrome, Chromium and every Firefox profile
in $HOME (system-wide: in every user's home).
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
	switch {
	case len(args) > 0 && isHelp(args[0]):
		fmt.Fprint(stdout, tlsUsage)
		return 0
	case len(args) == 0 || strings.HasPrefix(args[0], "-"):
		fmt.Fprint(stderr, tlsUsage)
		return 2
	}
	verb := args[0]
	flags := newFlags("tls " + verb)
	var f tlsFlags
	flags.BoolVar(&f.user, "user", false, "")
	flags.StringVar(&f.config, "config", "", "")
	flags.StringVar(&f.dir, "dir", "", "")
	flags.StringVar(&f.trustDir, "trust-dir", "", "")
	flags.StringVar(&f.updateCmd, "update-cmd", "", "")
	flags.Var((*multiFlag)(&f.nssDBs), "nss-db", "")
	if code, ok := parseFlags(flags, tlsUsage, args[1:], stdout, stderr); !ok {
		return code
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

// selection is the trust stores the flags name, or the default ones.
func (f tlsFlags) selection() localtls.Selection {
	return localtls.Selection{User: f.user, TrustDir: f.trustDir, NSSDBs: f.nssDBs,
		Options: localtls.Options{UpdateCmd: strings.Fields(f.updateCmd)}}
}

func (f tlsFlags) tlsDir() (string, error) {
	if f.dir != "" {
		return filepath.Abs(f.dir)
	}
	return config.TLSDir(runtime.GOOS, f.user, os.Getenv)
}

func (f tlsFlags) configPath() (string, error) {
	if f.config != "" {
		return filepath.Abs(f.config)
	}
	return config.File(runtime.GOOS, f.user, os.Getenv)
}

func tlsSetup(ctx context.Context, f tlsFlags, stdout io.Writer) error {
	dir, err := f.tlsDir()
	if err != nil {
		return err
	}
	if f.dir == "" {
		// The standard place is in the state directory, which must be
		// the agent's own (mode 0700) or the agent will not start: make
		// it so, or refuse here too, before the key is written there.
		if _, err := state.Open(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	cfgPath, err := f.configPath()
	if err != nil {
		return err
	}
	sel := f.selection()
	stores := sel.Stores()
	in, setupErr := localtls.Setup(ctx, dir, stores, sel.Options, time.Now())
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
	if !sel.Explicit() {
		if _, err := sel.Options.FindCertutil(); err != nil {
			fmt.Fprintf(stdout, "note: %v, to trust the CA in Chrome and Firefox\n", err)
		}
	}
	if err := config.SetTLSFile(cfgPath, in.CertPath(), in.KeyPath()); err != nil {
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
		if err := localtls.Uninstall(ctx, dir, f.selection().Options); err != nil {
			return err
		}
		for _, ref := range in.State.Stores {
			fmt.Fprintf(stdout, "removed the CA from %s\n", ref)
		}
		fmt.Fprintf(stdout, "deleted the certificates in %s\n", dir)
	}
	// Only the keys naming our files go: a certificate of the user's own
	// choosing stays configured.
	removed, err := config.RemoveTLSFile(cfgPath, filepath.Join(dir, localtls.CertFile))
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
	stores, unopened := f.selection().TrustStores(in)
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
func renewLocalTLS(ctx context.Context, cfg config.Config, log *slog.Logger, o localtls.Options) {
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
