package main

import (
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
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
	defaultListen = "127.0.0.1:24321"
	configName    = "config.toml"
	caName        = "demo-ca.pem"
	caKeyName     = "demo-ca.key" // the demo CA issues what the page requests
	auditName     = "audit.log"
	stateName     = "state" // the demo agent's state directory (its PIN throttle)
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

// demo is one demo state directory and the address its agent listens on.
type demo struct {
	dir    string // absolute
	listen string
}

func (d demo) path(name string) string { return filepath.Join(d.dir, name) }

// setup creates the tokens and the CA unless an earlier run completed them,
// and writes config.toml every time, so that a directory made by an older
// demotoken gets today's config.
func (d demo) setup(out io.Writer) error {
	if err := softhsm.CheckInstalled(); err != nil {
		return err
	}
	env, err := softhsm.NewEnv(d.dir)
	if err != nil {
		return fmt.Errorf("creating softhsm environment: %w", err)
	}
	done, err := d.complete(env)
	if err != nil {
		return err
	}
	if done {
		fmt.Fprintf(out, "Demo tokens already set up in %s.\n", d.dir)
	} else if err := d.create(env, out); err != nil {
		return err
	}
	if err := os.WriteFile(d.path(configName), []byte(d.agentConfig(env.Module)), 0o644); err != nil {
		return fmt.Errorf("writing agent config: %w", err)
	}
	d.printSummary(out)
	return nil
}

// complete reports whether the tokens and the CA that certified them are
// all there.
func (d demo) complete(env *softhsm.Env) (bool, error) {
	for _, name := range []string{caName, caKeyName} {
		if _, err := os.Stat(d.path(name)); errors.Is(err, os.ErrNotExist) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("checking demo state: %w", err)
		}
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

// create makes a new CA and the demo tokens. Tokens left by a run that
// stopped halfway are deleted first: their certificates may chain to a CA
// that is gone.
func (d demo) create(env *softhsm.Env, out io.Writer) error {
	if err := d.deleteTokens(env, out, "Removing incomplete token"); err != nil {
		return err
	}
	ca, err := softhsm.NewCA("tokenagent demo CA")
	if err != nil {
		return err
	}
	if err := ca.Save(d.path(caName), d.path(caKeyName)); err != nil {
		return err
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
	return nil
}

// reset deletes the demo tokens and the CA, so that setup makes them anew.
func (d demo) reset(out io.Writer) error {
	if err := softhsm.CheckInstalled(); err != nil {
		return err
	}
	env, err := softhsm.NewEnv(d.dir)
	if err != nil {
		return fmt.Errorf("opening softhsm environment: %w", err)
	}
	if err := d.deleteTokens(env, out, "Deleting token"); err != nil {
		return err
	}
	for _, name := range []string{caName, caKeyName} {
		if err := os.Remove(d.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing the demo CA: %w", err)
		}
	}
	return nil
}

func (d demo) deleteTokens(env *softhsm.Env, out io.Writer, what string) error {
	existing, err := env.TokenLabels()
	if err != nil {
		return err
	}
	for _, tok := range tokens {
		if slices.Contains(existing, tok.label) {
			fmt.Fprintf(out, "%s %q\n", what, tok.label)
			if err := env.DeleteToken(tok.label); err != nil {
				return err
			}
		}
	}
	return nil
}

// issue reads a CSR (PEM or DER) from in and writes the certificate the
// demo CA issues for it, valid from an hour ago for days days, as PEM.
func (d demo) issue(in io.Reader, out, log io.Writer, days int) error {
	ca, err := softhsm.LoadCA(d.path(caName), d.path(caKeyName))
	if err != nil {
		return fmt.Errorf("%w (run make demo first, or make demo-reset)", err)
	}
	csr, err := io.ReadAll(io.LimitReader(in, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour)
	cert, err := ca.IssueRequest(csr, notBefore, notBefore.AddDate(0, 0, days))
	if err != nil {
		return err
	}
	if err := pem.Encode(out, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}); err != nil {
		return fmt.Errorf("writing the certificate: %w", err)
	}
	fmt.Fprintf(log, "Issued %q, valid until %s, by %s\n", cert.Subject, cert.NotAfter.Format(time.DateOnly), d.path(caName))
	return nil
}

func (d demo) printSummary(out io.Writer) {
	fmt.Fprintf(out, "Tokens: ")
	for i, tok := range tokens {
		if i > 0 {
			fmt.Fprint(out, ", ")
		}
		fmt.Fprintf(out, "%q", tok.label)
	}
	fmt.Fprintf(out, " (user PIN %s, SO PIN %s: demo only)\n", userPIN, soPIN)
	fmt.Fprintf(out, "CA certificate: %s\n", d.path(caName))
	fmt.Fprintf(out, "Agent config:   %s\n", d.path(configName))
	fmt.Fprintf(out, "Audit log:      %s\n", d.path(auditName))
	fmt.Fprintf(out, "Module env:     SOFTHSM2_CONF=%s\n", d.path("softhsm2.conf"))
}

// agentConfig is the agent's config.toml for the demo tokens.
func (d demo) agentConfig(module string) string {
	// strconv.Quote output is a valid TOML basic string for the plain
	// paths modules and state directories live at.
	return `# Written by cmd/demotoken for "make demo"; rewritten on every run.
listen = ` + strconv.Quote(d.listen) + `
modules = [` + strconv.Quote(module) + `]
allowed_origins = []
state_dir = ` + strconv.Quote(d.path(stateName)) + `
audit_log = ` + strconv.Quote(d.path(auditName)) + `

[[media]]
name = "legacy-demo"
description = "Legacy demo media"
legacy = true
upgrade_to = "modern"
carry_over_months = 12
match_label = "^legacy-"

[[media]]
name = "modern"
description = "Modern demo media"
match_label = "^modern-"
`
}
