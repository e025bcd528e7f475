// Package softhsm builds SoftHSM tokens holding keys and certificates in a
// directory of the caller's own, for tests and for the local demo. It is not
// for production: private keys pass through files and PINs through command
// lines.
//
// Tokens are created with softhsm2-util and pkcs11-tool in separate
// processes, and a PKCS#11 module sees the tokens that exist at its
// C_Initialize only. So create every token (and import its objects) before
// the code under test opens the module, and point that module at the same
// configuration: SOFTHSM2_CONF=Env.ConfPath (New does this for tests).
package softhsm

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNotInstalled reports that SoftHSM or one of the tools this package
// drives is missing; errors.Is works on what CheckInstalled returns.
var ErrNotInstalled = errors.New("softhsm not installed")

// ErrTokenExists reports that InitToken was asked for a label that is taken.
var ErrTokenExists = errors.New("token label already in use")

// modulePaths are the places distributions put the module, most likely first.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",                  // Debian, Ubuntu
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", // older Debian/Ubuntu
	"/usr/local/lib/softhsm/libsofthsm2.so",            // source builds, Homebrew on Intel macOS
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",         // Homebrew on Apple silicon
}

const (
	utilTool  = "softhsm2-util"
	p11Tool   = "pkcs11-tool"
	confEnv   = "SOFTHSM2_CONF"
	maxLabel  = 32 // CK_TOKEN_INFO.label is 32 bytes, blank padded
	confName  = "softhsm2.conf"
	tokensDir = "tokens"
)

// ModulePath returns the path of libsofthsm2.so, or ErrNotInstalled.
func ModulePath() (string, error) {
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("looking for libsofthsm2.so in %s: %w", strings.Join(modulePaths, ", "), ErrNotInstalled)
}

// CheckInstalled reports whether the module and both command-line tools are
// present; the error names everything that is missing and wraps
// ErrNotInstalled.
func CheckInstalled() error {
	var missing []string
	if _, err := ModulePath(); err != nil {
		missing = append(missing, "libsofthsm2.so (package softhsm2)")
	}
	if _, err := exec.LookPath(utilTool); err != nil {
		missing = append(missing, utilTool+" (package softhsm2)")
	}
	if _, err := exec.LookPath(p11Tool); err != nil {
		missing = append(missing, p11Tool+" (package opensc)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (run make deps): %w", strings.Join(missing, ", "), ErrNotInstalled)
	}
	return nil
}

// Env is a SoftHSM configuration of its own: Dir holds softhsm2.conf and the
// tokens/ directory, so tokens made here are invisible to every other Env.
type Env struct {
	Dir      string // absolute
	ConfPath string // Dir/softhsm2.conf; give it to the module as SOFTHSM2_CONF
	Module   string // path of libsofthsm2.so
	// Util is the softhsm2-util of the same build as Module; empty means
	// the one on PATH.
	Util string
}

// utilPath is the softhsm2-util to run.
func (e *Env) utilPath() string {
	if e.Util != "" {
		return e.Util
	}
	return utilTool
}

// NewEnv makes dir (if needed) into a SoftHSM environment. It writes
// softhsm2.conf only when the file differs from what it would write, so
// calling it again on the same dir keeps the tokens and touches nothing.
func NewEnv(dir string) (*Env, error) {
	module, err := ModulePath()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolving softhsm dir: %w", err)
	}
	// SoftHSM's config parser has no quoting, so a newline or '#' would
	// change the meaning of the file rather than be part of the path.
	if strings.ContainsAny(abs, "\n\r#") {
		return nil, fmt.Errorf("softhsm dir %q: path contains a newline or '#'", abs)
	}
	tokens := filepath.Join(abs, tokensDir)
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("creating token directory: %w", err)
	}
	env := &Env{Dir: abs, ConfPath: filepath.Join(abs, confName), Module: module}
	conf := fmt.Sprintf("# Written by tokenagent internal/softhsm: test and demo tokens only.\n"+
		"directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	if old, err := os.ReadFile(env.ConfPath); err == nil && string(old) == conf {
		return env, nil
	}
	if err := os.WriteFile(env.ConfPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("writing softhsm2.conf: %w", err)
	}
	return env, nil
}

// Environ returns os.Environ() with SOFTHSM2_CONF pointing at this Env, for
// subprocesses that load the module.
func (e *Env) Environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, confEnv+"=") {
			env = append(env, kv)
		}
	}
	return append(env, confEnv+"="+e.ConfPath)
}

// InitToken creates a token in the first free slot. Labels must be unique
// within the Env, because the tools pick tokens by label.
func (e *Env) InitToken(label, soPIN, userPIN string) error {
	if label == "" || len(label) > maxLabel {
		return fmt.Errorf("initializing token %q: label must be 1 to %d bytes", label, maxLabel)
	}
	labels, err := e.TokenLabels()
	if err != nil {
		return fmt.Errorf("initializing token %q: %w", label, err)
	}
	for _, l := range labels {
		if l == label {
			return fmt.Errorf("initializing token %q: %w", label, ErrTokenExists)
		}
	}
	_, err = e.run(utilTool+" --init-token", []string{soPIN, userPIN}, e.utilPath(),
		"--init-token", "--free", "--label", label, "--so-pin", soPIN, "--pin", userPIN)
	return err
}

// DeleteToken removes the token with this label and everything on it.
func (e *Env) DeleteToken(label string) error {
	_, err := e.run(utilTool+" --delete-token", nil, e.utilPath(), "--delete-token", "--token", label)
	return err
}

// TokenLabels lists the labels of the initialized tokens in the Env.
func (e *Env) TokenLabels() ([]string, error) {
	out, err := e.run(utilTool+" --show-slots", nil, e.utilPath(), "--show-slots")
	if err != nil {
		return nil, err
	}
	return parseLabels(out), nil
}

// parseLabels picks the token labels out of softhsm2-util --show-slots.
// Uninitialized slots print an empty label and are left out.
func parseLabels(out string) []string {
	var labels []string
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimLeft(line, " \t"), "Label:")
		if !ok {
			continue
		}
		// The tool pads the value to the column and the label to 32 bytes.
		if l := strings.TrimRight(strings.TrimLeft(rest, " "), " "); l != "" {
			labels = append(labels, l)
		}
	}
	return labels
}

// ImportKey stores key as a private key and its public key, both with the
// given CKA_ID and CKA_LABEL, on the token. The key passes through a PKCS#8
// file in Dir that is removed afterwards.
func (e *Env) ImportKey(tokenLabel, userPIN string, id []byte, label string, key crypto.Signer) error {
	if len(id) == 0 {
		return errors.New("importing key: empty id")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("importing key: encoding PKCS#8: %w", err)
	}
	path, err := e.tempFile("key-*.p8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil {
		return fmt.Errorf("importing key: %w", err)
	}
	defer os.Remove(path)
	_, err = e.run(utilTool+" --import", []string{userPIN}, e.utilPath(), "--import", path,
		"--token", tokenLabel, "--pin", userPIN, "--id", hex.EncodeToString(id), "--label", label)
	return err
}

// ImportCertificate stores a DER certificate on the token with the given
// CKA_ID and CKA_LABEL; use the key's id so that clients pair them.
func (e *Env) ImportCertificate(tokenLabel, userPIN string, id []byte, label string, der []byte) error {
	if len(id) == 0 {
		return errors.New("importing certificate: empty id")
	}
	path, err := e.tempFile("cert-*.der", der)
	if err != nil {
		return fmt.Errorf("importing certificate: %w", err)
	}
	defer os.Remove(path)
	_, err = e.P11Tool([]string{userPIN}, "--token-label", tokenLabel, "--login", "--pin", userPIN,
		"--write-object", path, "--type", "cert", "--id", hex.EncodeToString(id), "--label", label)
	return err
}

// P11Tool runs pkcs11-tool against this Env's module and returns its
// standard output. Values in secrets (PINs) are blanked out of error text.
func (e *Env) P11Tool(secrets []string, args ...string) (string, error) {
	what := p11Tool
	for _, a := range args {
		// Name the action, never the options around it: they hold PINs.
		switch a {
		case "--write-object", "-w", "--read-object", "-r", "--list-objects", "-O",
			"--list-slots", "-L", "--delete-object", "-b", "--sign", "-s":
			what += " " + a
		}
	}
	return e.run(what, secrets, p11Tool, append([]string{"--module", e.Module}, args...)...)
}

func (e *Env) tempFile(pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(e.Dir, pattern) // mode 0600
	if err != nil {
		return "", fmt.Errorf("creating temporary file: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("writing temporary file: %w", err)
	}
	return f.Name(), nil
}

// run executes a tool with this Env's configuration. Errors name the step
// (what) and quote the tool's stderr, but never the argv, which carries PINs;
// secrets are also blanked out of the quoted output in case a tool echoes one.
func (e *Env) run(what string, secrets []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = e.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		for _, s := range secrets {
			if s != "" {
				msg = strings.ReplaceAll(msg, s, "[redacted]")
			}
		}
		if msg == "" {
			return "", fmt.Errorf("running %s: %w", what, err)
		}
		return "", fmt.Errorf("running %s: %w: %s", what, err, msg)
	}
	return stdout.String(), nil
}

// p11KeyTypes are pkcs11-tool's names of the key algorithms.
var p11KeyTypes = map[string]string{"EC-P256": "EC:prime256v1", "EC-P384": "EC:secp384r1", "RSA-2048": "rsa:2048", "RSA-3072": "rsa:3072"}

// generateKey makes a key pair on the token that needs a login for each
// use of its private key (pkcs11-tool --always-auth), and returns its public
// key as the token gives it.
func (e *Env) generateKey(tokenLabel, userPIN string, id []byte, label, algorithm string) (crypto.PublicKey, error) {
	keyType, ok := p11KeyTypes[algorithm]
	if !ok {
		return nil, fmt.Errorf("generating key: unknown algorithm %q", algorithm)
	}
	hexID := hex.EncodeToString(id)
	if _, err := e.P11Tool([]string{userPIN}, "--token-label", tokenLabel, "--login", "--pin", userPIN,
		"--keypairgen", "--key-type", keyType, "--always-auth", "--id", hexID, "--label", label); err != nil {
		return nil, err
	}
	path := filepath.Join(e.Dir, "pub-"+hexID+".der")
	defer os.Remove(path)
	if _, err := e.P11Tool(nil, "--token-label", tokenLabel, "--read-object", "--type", "pubkey", "--id", hexID, "-o", path); err != nil {
		return nil, err
	}
	der, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the generated public key: %w", err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("decoding the generated public key: %w", err)
	}
	return pub, nil
}
