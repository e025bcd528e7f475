// Command demotoken prepares the SoftHSM tokens that `make demo` runs the
// agent against: a token "demo" with an RSA key and a one-year certificate,
// and a token "legacy-demo" with an EC key whose certificate expires in 20
// days, plus a config.toml for the agent. It is idempotent: once a state
// directory is complete it leaves it alone.
//
// Usage:
//
//	demotoken -dir STATE_DIR
package main

import (
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// The PINs are public on purpose: these tokens exist to be shown.
const (
	userPIN = "1234"
	soPIN   = "12345678"
)

const (
	configName = "config.toml" // written last, so it marks a complete run
	caName     = "demo-ca.pem"
)

// token describes one demo token and the single key and certificate on it.
type token struct {
	label   string
	keyAlg  string
	subject string
	// validity returns the certificate's validity relative to now.
	validity func(now time.Time) (notBefore, notAfter time.Time)
}

var tokens = []token{
	{
		label: "demo", keyAlg: "RSA-2048", subject: "Demo User",
		validity: func(now time.Time) (time.Time, time.Time) {
			return now.Add(-time.Hour), now.AddDate(1, 0, 0)
		},
	},
	{
		// Issued about a year ago and close to expiry, so the page shows the
		// "expiring" badge and the legacy media profile (^legacy-) applies.
		label: "legacy-demo", keyAlg: "EC-P256", subject: "Legacy Demo User",
		validity: func(now time.Time) (time.Time, time.Time) {
			notAfter := now.AddDate(0, 0, 20)
			return notAfter.AddDate(-1, 0, 0), notAfter
		},
	},
}

func main() {
	dir := flag.String("dir", "", "state directory for softhsm2.conf, tokens, demo-ca.pem and config.toml (required)")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: demotoken -dir STATE_DIR")
		os.Exit(2)
	}
	if err := run(*dir, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demotoken:", err)
		os.Exit(1)
	}
}

func run(dir string, out io.Writer) error {
	if err := softhsm.CheckInstalled(); err != nil {
		return err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving state directory: %w", err)
	}
	done, err := complete(dir)
	if err != nil {
		return err
	}
	if done {
		fmt.Fprintf(out, "Demo tokens already set up in %s; nothing to do.\n", dir)
		printSummary(out, dir)
		return nil
	}

	env, err := softhsm.NewEnv(dir)
	if err != nil {
		return fmt.Errorf("creating softhsm environment: %w", err)
	}
	// A run that stopped halfway leaves tokens whose certificates no
	// longer chain to a CA we have (its key is never kept): start over.
	existing, err := env.TokenLabels()
	if err != nil {
		return err
	}
	for _, tok := range tokens {
		if slices.Contains(existing, tok.label) {
			fmt.Fprintf(out, "Removing incomplete token %q from an earlier run\n", tok.label)
			if err := env.DeleteToken(tok.label); err != nil {
				return err
			}
		}
	}

	ca, err := softhsm.NewCA("tokenagent demo CA")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(env.Dir, caName), ca.PEM, 0o644); err != nil {
		return fmt.Errorf("writing demo CA certificate: %w", err)
	}
	now := time.Now()
	for _, tok := range tokens {
		if err := env.InitToken(tok.label, soPIN, userPIN); err != nil {
			return err
		}
		notBefore, notAfter := tok.validity(now)
		cert, _, err := env.AddKeyAndCert(tok.label, userPIN, ca, softhsm.CertSpec{
			KeyAlgorithm: tok.keyAlg,
			ID:           []byte{0x01},
			Label:        tok.subject,
			Subject:      pkix.Name{CommonName: tok.subject, Organization: []string{"tokenagent demo"}},
			NotBefore:    notBefore,
			NotAfter:     notAfter,
		})
		if err != nil {
			return fmt.Errorf("filling token %q: %w", tok.label, err)
		}
		fmt.Fprintf(out, "Created token %q: %s key, certificate %q valid until %s\n",
			tok.label, tok.keyAlg, cert.Subject, cert.NotAfter.Format(time.DateOnly))
	}
	if err := os.WriteFile(filepath.Join(env.Dir, configName), []byte(agentConfig(env.Module)), 0o644); err != nil {
		return fmt.Errorf("writing agent config: %w", err)
	}
	printSummary(out, env.Dir)
	return nil
}

// complete reports whether an earlier run finished in dir.
func complete(dir string) (bool, error) {
	for _, name := range []string{"softhsm2.conf", configName} {
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("checking demo state: %w", err)
		}
	}
	env, err := softhsm.NewEnv(dir)
	if err != nil {
		return false, fmt.Errorf("opening softhsm environment: %w", err)
	}
	labels, err := env.TokenLabels()
	if err != nil {
		return false, err
	}
	for _, tok := range tokens {
		if !slices.Contains(labels, tok.label) {
			return false, nil
		}
	}
	return true, nil
}

func printSummary(out io.Writer, dir string) {
	fmt.Fprintf(out, "Tokens: ")
	for i, tok := range tokens {
		if i > 0 {
			fmt.Fprint(out, ", ")
		}
		fmt.Fprintf(out, "%q", tok.label)
	}
	fmt.Fprintf(out, " (user PIN %s, SO PIN %s: demo only)\n", userPIN, soPIN)
	fmt.Fprintf(out, "CA certificate: %s\n", filepath.Join(dir, caName))
	fmt.Fprintf(out, "Agent config:   %s\n", filepath.Join(dir, configName))
	fmt.Fprintf(out, "Module env:     SOFTHSM2_CONF=%s\n", filepath.Join(dir, "softhsm2.conf"))
}

// agentConfig is the agent's config.toml for the demo tokens.
func agentConfig(module string) string {
	// strconv.Quote output is a valid TOML basic string for the plain
	// ASCII paths modules live at.
	return `# Written by cmd/demotoken for "make demo".
listen = "127.0.0.1:24321"
modules = [` + strconv.Quote(module) + `]
allowed_origins = []

[[media]]
name = "legacy-demo"
description = "Legacy demo media"
legacy = true
upgrade_to = "modern"
carry_over_months = 12
match_label = "^legacy-"
`
}
