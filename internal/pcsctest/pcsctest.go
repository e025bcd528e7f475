// Package pcsctest runs the real PC/SC stack for tests: Debian's pcscd in
// the foreground with the vpcd driver (vsmartcard-vpcd), and virtual cards
// from vicc (vsmartcard-vpicc), talking to each other over loopback.
//
// pcscd has one socket per machine, /run/pcscd/pcscd.comm, which the PC/SC
// library of the test process connects to; pcscd cannot be told another one.
// So a Daemon needs root (to create /run/pcscd), only one Daemon runs at a
// time on a machine (StartPCSCD waits for a lock file that test processes
// share), and when a pcscd the test did not start is running — the system's,
// started by systemd's pcscd.socket — StartPCSCD skips the test rather than
// stop it (stop it with `systemctl stop pcscd.socket pcscd.service` to run
// these tests). Each Daemon reads its own reader configuration, not
// /etc/reader.conf.d: two vpcd readers on free TCP ports. The vpcd driver
// listens on those ports on every address (it has no option for loopback
// only); vicc connects to 127.0.0.1.
//
// When something is missing (the packages pcscd, vsmartcard-vpcd,
// vsmartcard-vpicc and python3-pycryptodome, root, Linux) the helpers skip
// the test, except when the CI variable is set: there a missing dependency is
// a broken machine, and a skip would pass the run without testing anything.
package pcsctest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// Reader is the vpcd reader a Card is inserted into.
	Reader = "Virtual PCD 00 00"
	// SecondReader is the other vpcd reader; it stays empty.
	SecondReader = "Virtual PCD 00 01"
	// ATR is the answer to reset of vicc's iso7816 card, in lowercase hex.
	ATR = "3b951381018073ff01000b"
)

// Paths of what the helpers run, from the Debian packages.
const (
	vpcdDriver   = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"      // vsmartcard-vpcd
	viccLib      = "/usr/lib/python3/site-packages/virtualsmartcard" // python3-virtualsmartcard
	cryptodome   = "/usr/lib/python3/dist-packages/Cryptodome"       // python3-pycryptodome
	pcscdSocket  = "/run/pcscd/pcscd.comm"
	startTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
	lockTimeout  = 3 * time.Minute
)

// skip skips the test, or fails it when CI is set.
func skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "pcsctest: " + fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set, so this is not skipped)", msg)
	}
	t.Skip(msg)
}

// CheckInstalled tells what is missing to run pcscd with vpcd and vicc, or
// returns nil.
func CheckInstalled() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("pcscd with vpcd runs on Linux only, not %s", runtime.GOOS)
	}
	var missing []string
	if _, err := pcscdPath(); err != nil {
		missing = append(missing, "pcscd (package pcscd)")
	}
	if _, err := os.Stat(vpcdDriver); err != nil {
		missing = append(missing, vpcdDriver+" (package vsmartcard-vpcd)")
	}
	if _, err := exec.LookPath("vicc"); err != nil {
		missing = append(missing, "vicc (package vsmartcard-vpicc)")
	}
	if _, err := os.Stat(viccLib); err != nil {
		missing = append(missing, viccLib+" (package python3-virtualsmartcard)")
	}
	if _, err := os.Stat(cryptodome); err != nil {
		missing = append(missing, cryptodome+" (package python3-pycryptodome)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("not installed: %s", strings.Join(missing, ", "))
	}
	return nil
}

// pcscdPath finds pcscd, which is in /usr/sbin, not always on a user's PATH.
func pcscdPath() (string, error) {
	if p, err := exec.LookPath("pcscd"); err == nil {
		return p, nil
	}
	const p = "/usr/sbin/pcscd"
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("finding pcscd: %w", err)
	}
	return p, nil
}

// socketAnswers tells whether a pcscd accepts connections on its socket.
func socketAnswers() bool {
	c, err := net.DialTimeout("unix", pcscdSocket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Daemon is a pcscd started by a test, with two vpcd readers.
type Daemon struct {
	path    string // pcscd
	confDir string // its reader.conf.d
	port    int    // vpcd's port for Reader; SecondReader's is port+1
	out     *output

	mu   sync.Mutex
	proc *process // nil when stopped
}

// StartPCSCD starts pcscd in the foreground for the test, and stops it when
// the test ends. It returns once pcscd is ready. It skips the test (fails it
// under CI) when pcscd cannot run here; see the package documentation.
func StartPCSCD(t testing.TB) *Daemon {
	t.Helper()
	if err := CheckInstalled(); err != nil {
		skip(t, "%v", err)
	}
	if os.Geteuid() != 0 {
		skip(t, "pcscd needs root here: its socket is %s", pcscdSocket)
	}
	path, err := pcscdPath()
	if err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	unlock, err := lockMachine(filepath.Join(os.TempDir(), "tokenagent-pcsctest.lock"), lockTimeout)
	if err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	t.Cleanup(unlock)
	if socketAnswers() {
		skip(t, "a pcscd this test did not start answers on %s (the system's? "+
			"systemctl stop pcscd.socket pcscd.service)", pcscdSocket)
	}
	port, err := freePortPair()
	if err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	d := &Daemon{path: path, confDir: t.TempDir(), port: port, out: &output{}}
	conf := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x%04X\n"+
		"LIBPATH %s\nCHANNELID 0x%04X\n", port, vpcdDriver, port)
	if err := os.WriteFile(filepath.Join(d.confDir, "vpcd"), []byte(conf), 0o644); err != nil {
		t.Fatalf("pcsctest: writing reader configuration: %v", err)
	}
	t.Cleanup(func() {
		d.stop(t, syscall.SIGTERM)
		if t.Failed() {
			t.Logf("pcscd output:\n%s", d.out.String())
		}
	})
	d.Start(t)
	return d
}

// Start starts pcscd again after Stop or Kill, and returns once it is ready.
func (d *Daemon) Start(t testing.TB) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil && !d.proc.exited() {
		t.Fatalf("pcsctest: pcscd is already running")
	}
	// -f: foreground, logs on stdout; -i: info logs, which say when it is
	// ready. No -x (--auto-exit): it runs until stopped.
	mark := d.out.Len()
	p, err := startProcess(d.out, nil, d.path, "-f", "-i", "-c", d.confDir)
	if err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	d.proc = p
	if err := d.out.waitFor(mark, "daemon ready", p, startTimeout); err != nil {
		p.signal(syscall.SIGKILL)
		p.wait(stopTimeout)
		t.Fatalf("pcsctest: starting pcscd: %v\n%s", err, d.out.From(mark))
	}
}

// Stop stops pcscd cleanly (SIGTERM) and waits for it to exit.
func (d *Daemon) Stop(t testing.TB) {
	t.Helper()
	d.stop(t, syscall.SIGTERM)
}

// Kill kills pcscd (SIGKILL), as a crash would, and waits for it to exit. It
// leaves its socket file behind; the next Start cleans up.
func (d *Daemon) Kill(t testing.TB) {
	t.Helper()
	d.stop(t, syscall.SIGKILL)
}

func (d *Daemon) stop(t testing.TB, sig syscall.Signal) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil {
		return
	}
	p := d.proc
	d.proc = nil
	p.signal(sig)
	if !p.wait(stopTimeout) {
		p.signal(syscall.SIGKILL)
		p.wait(stopTimeout)
		t.Errorf("pcsctest: pcscd did not exit within %v of %v", stopTimeout, sig)
	}
}

// Port is the TCP port on which vpcd waits for the card of Reader.
func (d *Daemon) Port() int { return d.port }

// Output returns what pcscd has logged so far, for test failure messages.
func (d *Daemon) Output() string { return d.out.String() }

// freePortPair finds a port p such that p and p+1 are both free on every
// address, as vpcd binds them.
func freePortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			if p+1 <= 65535 {
				return p, nil
			}
		}
	}
	return 0, errors.New("finding a free port: no two free ports in a row")
}

// Card is a virtual card, vicc, inserted into a Daemon's Reader.
type Card struct {
	d    *Daemon
	shim string // PYTHONPATH dir making Cryptodome importable as Crypto
	out  *output

	mu   sync.Mutex
	proc *process // nil when removed
}

// StartCard inserts a virtual ISO 7816 card (ATR) into d's Reader, and
// removes it when the test ends. It returns once vicc is connected to vpcd;
// pcscd notices the card within its polling interval (under half a second).
func StartCard(t testing.TB, d *Daemon) *Card {
	t.Helper()
	shim := t.TempDir()
	// vicc imports Crypto; Debian's pycryptodome is Cryptodome.
	if err := os.Symlink(cryptodome, filepath.Join(shim, "Crypto")); err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	c := &Card{d: d, shim: shim, out: &output{}}
	t.Cleanup(func() {
		c.Remove(t)
		if t.Failed() {
			t.Logf("vicc output:\n%s", c.out.String())
		}
	})
	c.Insert(t)
	return c
}

// Insert starts vicc again after Remove (or after pcscd went away, which
// ends vicc), and returns once it is connected.
func (c *Card) Insert(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	// A vicc whose pcscd went away is on its way out; give it a moment.
	if c.proc != nil && !c.proc.wait(5*time.Second) {
		t.Fatalf("pcsctest: the card is already inserted")
	}
	env := append(os.Environ(), "PYTHONPATH="+viccLib+":"+c.shim)
	mark := c.out.Len()
	// -vvv: info logs, which say when vicc is connected.
	p, err := startProcess(c.out, env, "vicc", "-t", "iso7816", "-vvv",
		"-H", "127.0.0.1", "-P", fmt.Sprint(c.d.port))
	if err != nil {
		t.Fatalf("pcsctest: %v", err)
	}
	c.proc = p
	if err := c.out.waitFor(mark, "Connected to virtual PCD", p, startTimeout); err != nil {
		p.signal(syscall.SIGKILL)
		p.wait(stopTimeout)
		t.Fatalf("pcsctest: starting vicc: %v\n%s", err, c.out.From(mark))
	}
}

// Remove stops vicc, which vpcd sees as the card leaving the reader, and
// waits for it to exit. Removing a removed card does nothing.
func (c *Card) Remove(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return
	}
	p := c.proc
	c.proc = nil
	p.signal(syscall.SIGTERM)
	if !p.wait(stopTimeout) {
		p.signal(syscall.SIGKILL)
		p.wait(stopTimeout)
	}
}

// process is a started child process.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
}

func startProcess(out *output, env []string, name string, args ...string) (*process, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(out, "[pcsctest: %s exited: %v]\n", filepath.Base(name), exitText(err))
		close(p.done)
	}()
	return p, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) signal(sig os.Signal) {
	if !p.exited() {
		_ = p.cmd.Process.Signal(sig) // it may exit meanwhile
	}
}

// wait waits up to timeout for the process to exit and tells whether it did.
func (p *process) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// output collects a child's stdout and stderr.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(b)
}

func (o *output) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Len()
}

func (o *output) String() string { return o.From(0) }

// From returns the output from offset on.
func (o *output) From(offset int) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf.Bytes()[offset:])
}

// waitFor waits until the output from offset on contains s, p exits, or
// timeout passes.
func (o *output) waitFor(offset int, s string, p *process, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(o.From(offset), s) {
			return nil
		}
		if p.exited() {
			// One more look: the line may have come with the exit.
			if strings.Contains(o.From(offset), s) {
				return nil
			}
			return fmt.Errorf("exited before saying %q", s)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("did not say %q within %v", s, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
