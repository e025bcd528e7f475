// Package tpm2 runs a software TPM (swtpm) on loopback for a test and makes
// tpm2-pkcs11 tokens on it: a second real PKCS#11 module beside SoftHSM,
// which nobody here wrote. It is for tests only: PINs pass through command
// lines.
//
// swtpm serves one client at a time, and tpm2-pkcs11 holds its connection
// from C_Initialize to C_Finalize. So make every token (InitToken, with
// pkcs11-tool, in a process of its own) before the code under test opens
// the module, or after it closed it. Without a resource manager,
// tpm2_ptool addtoken fails ("out of memory for object contexts"), but
// pkcs11-tool's --init-token and --init-pin through the module work.
package tpm2

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ErrNotInstalled reports that swtpm, tpm2-tools, pkcs11-tool or the module
// is missing.
var ErrNotInstalled = errors.New("tpm2 test stack not installed")

// modulePatterns are where distributions put tpm2-pkcs11.
var modulePatterns = []string{
	"/usr/lib/*-linux-gnu/pkcs11/libtpm2_pkcs11.so", // Debian, Ubuntu
	"/usr/lib64/pkcs11/libtpm2_pkcs11.so",           // Fedora
	"/usr/lib/pkcs11/libtpm2_pkcs11.so",             // Arch
}

// tools are the programs a TPM needs, with their Debian packages.
var tools = map[string]string{
	"swtpm":                  "swtpm",
	"tpm2_dictionarylockout": "tpm2-tools",
	"pkcs11-tool":            "opensc",
}

// ModulePath returns the path of libtpm2_pkcs11.so, or ErrNotInstalled.
func ModulePath() (string, error) {
	for _, p := range modulePatterns {
		if m, _ := filepath.Glob(p); len(m) > 0 {
			return m[0], nil
		}
	}
	return "", fmt.Errorf("libtpm2_pkcs11.so (package libtpm2-pkcs11-1) not found: %w", ErrNotInstalled)
}

// CheckInstalled names everything missing, wrapping ErrNotInstalled.
func CheckInstalled() error {
	var missing []string
	if _, err := ModulePath(); err != nil {
		missing = append(missing, "libtpm2_pkcs11.so (package libtpm2-pkcs11-1)")
	}
	for tool, pkg := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool+" (package "+pkg+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (run make deps): %w", strings.Join(missing, ", "), ErrNotInstalled)
	}
	return nil
}

// TPM is a software TPM serving on two loopback ports of its own, and the
// tpm2-pkcs11 store that keeps its tokens.
type TPM struct {
	t      testing.TB
	Module string // libtpm2_pkcs11.so
	dir    string // state/ (the TPM's) and store/ (tpm2-pkcs11's)
	port   int    // the TPM's command port; its control port is the next one
	ctrl   int    // port+1, where the swtpm TCTI looks for it
	swtpm  *exec.Cmd
	exited chan struct{}
}

// New starts a software TPM for the test, with the dictionary-attack
// lockout lowered so that the tests' wrong PINs do not lock it for long,
// and points tpm2-pkcs11 at it for the whole process (t.Setenv: a test
// using it cannot be parallel). The TPM is stopped when the test ends.
// When the stack is missing, New skips the test, except under CI, where a
// missing dependency is a broken machine.
func New(t testing.TB) *TPM {
	t.Helper()
	if err := CheckInstalled(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("tpm2: %v (CI is set, so this is not skipped)", err)
		}
		t.Skipf("tpm2: %v", err)
	}
	module, _ := ModulePath()
	p := &TPM{t: t, Module: module, dir: t.TempDir()}
	for _, d := range []string{"state", "store"} {
		if err := os.Mkdir(filepath.Join(p.dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p.port = freePorts(t)
	p.ctrl = p.port + 1
	for _, kv := range p.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	p.Start()
	t.Cleanup(p.Stop)
	if out, err := p.run("tpm2_dictionarylockout", "--setup-parameters", "--max-tries=10", "--recovery-time=10"); err != nil {
		t.Fatalf("tpm2: lowering the lockout: %v: %s", err, out)
	}
	return p
}

// freePorts returns a loopback port that nobody listens on now, nor on
// the next one: the swtpm TCTI finds the control port at port+1.
func freePorts(t testing.TB) int {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		next, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		ln.Close()
		if err == nil {
			next.Close()
			return port
		}
	}
	t.Fatal("tpm2: no two free loopback ports in a row")
	return 0
}

// env is what tpm2-pkcs11 and tpm2-tools need to reach this TPM, with
// their logging quietened (tpm2-pkcs11 logs every failed PIN to stderr).
func (p *TPM) env() []string {
	tcti := "swtpm:host=127.0.0.1,port=" + strconv.Itoa(p.port)
	return []string{
		"TPM2_PKCS11_TCTI=" + tcti,
		"TPM2TOOLS_TCTI=" + tcti,
		"TPM2_PKCS11_STORE=" + filepath.Join(p.dir, "store"),
		"TPM2_PKCS11_LOG_LEVEL=0",
		"TSS2_LOG=all+NONE",
	}
}

// Environ returns os.Environ() with this TPM's variables, for a process
// that loads the module (the agent, pkcs11-tool).
func (p *TPM) Environ() []string {
	ours := p.env()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(ours, func(o string) bool { return strings.HasPrefix(o, k+"=") }) {
			env = append(env, kv)
		}
	}
	return append(env, ours...)
}

// Start runs swtpm on the TPM's ports and state, and waits until both
// ports take connections (a connection to the command port, closed at
// once, leaves it free for the next client).
func (p *TPM) Start() {
	p.t.Helper()
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p.port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p.ctrl),
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+filepath.Join(p.dir, "state"))
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("tpm2: starting swtpm: %v", err)
	}
	p.swtpm, p.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); close(exited) }(p.exited)
	deadline := time.Now().Add(10 * time.Second)
	for _, port := range []int{p.ctrl, p.port} {
		p.waitListening(port, &stderr, deadline)
	}
}

// waitListening waits until swtpm takes connections on port.
func (p *TPM) waitListening(port int, stderr *bytes.Buffer, deadline time.Time) {
	p.t.Helper()
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			p.t.Fatalf("tpm2: swtpm exited: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("tpm2: swtpm not answering on port %d: %v", port, err)
		}
	}
}

// Stop ends swtpm and waits for it; the TPM's state stays for Start.
func (p *TPM) Stop() {
	if p.swtpm == nil {
		return
	}
	_ = p.swtpm.Process.Kill()
	<-p.exited
	p.swtpm = nil
}

// Restart stops swtpm and starts it again on the same state, as a TPM
// reset does: a module connected to it finds its connection gone.
func (p *TPM) Restart() {
	p.t.Helper()
	p.Stop()
	p.Start()
}

// run runs a tool against this TPM; PINs are blanked out of its output.
func (p *TPM) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = p.Environ()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// P11Tool runs pkcs11-tool on the module and returns its output; the values
// in secrets are blanked out of the error.
func (p *TPM) P11Tool(secrets []string, args ...string) (string, error) {
	out, err := p.run("pkcs11-tool", append([]string{"--module", p.Module}, args...)...)
	if err != nil {
		for _, s := range secrets {
			out = strings.ReplaceAll(out, s, "[redacted]")
		}
		return out, fmt.Errorf("pkcs11-tool: %w: %s", err, strings.TrimSpace(out))
	}
	return out, nil
}

// uninitialised matches a slot of pkcs11-tool -L with no token made in it.
var uninitialised = regexp.MustCompile(`(?m)^Slot (\d+) \(0x[0-9a-f]+\): *\n\s+token state:\s+uninitialized`)

// InitToken makes a token labelled label in the TPM's free slot, with the
// SO and user PINs given. No process may have the module open meanwhile.
func (p *TPM) InitToken(label, soPIN, userPIN string) error {
	out, err := p.P11Tool(nil, "-L")
	if err != nil {
		return err
	}
	m := uninitialised.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("initialising token %q: no free slot in %s", label, out)
	}
	secrets := []string{soPIN, userPIN}
	if _, err := p.P11Tool(secrets, "--init-token", "--slot-index", m[1], "--label", label, "--so-pin", soPIN); err != nil {
		return fmt.Errorf("initialising token %q: %w", label, err)
	}
	if _, err := p.P11Tool(secrets, "--init-pin", "--token-label", label, "--login", "--login-type", "so",
		"--so-pin", soPIN, "--new-pin", userPIN); err != nil {
		return fmt.Errorf("setting the user PIN of %q: %w", label, err)
	}
	return nil
}
