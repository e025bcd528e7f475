package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ebfe/scard"
	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/internal/browserpolicy"
	"github.com/tokenagent/tokenagent/internal/doctor"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/doctor")

// freeAddr returns a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// testProbe is a Linux computer whose PC/SC service is in state readers,
// with Chrome, which has no policy, Chromium, whose policy pre-allows
// https://ca.example.com, and Firefox, whose policy pre-allows both of the
// configs' origins.
func testProbe(readers token.ReaderState) doctor.Probe {
	return doctor.Probe{
		GOOS:    "linux",
		Getenv:  func(string) string { return "" },
		Readers: func() token.ReaderState { return readers },
		Timeout: 2 * time.Second,
		Running: runningProcess,
		Browsers: func(origins []string) []browserpolicy.Result {
			return browserpolicy.CheckFiles(fstest.MapFS{
				"opt/google/chrome/chrome":                 {Data: []byte("ELF")},
				"usr/lib/chromium/chromium":                {Data: []byte("ELF")},
				"usr/lib/firefox/firefox":                  {Data: []byte("ELF")},
				"etc/chromium/policies/managed/fleet.json": {Data: []byte(`{"LoopbackNetworkAllowedForUrls": ["https://ca.example.com"]}`)},
				"etc/firefox/policies/policies.json":       {Data: []byte(`{"policies": {"LocalNetworkAccess": {"SkipDomains": ["*.example.com"]}}}`)},
			}, origins)
		},
	}
}

// libVersion matches a PKCS#11 library version, which depends on the
// SoftHSM installed.
var libVersion = regexp.MustCompile(`version \d+\.\d+\)`)

// checkGolden compares got, with the values that vary from run to run
// replaced as in replace (old, new pairs), to testdata/doctor/name.golden.
func checkGolden(t *testing.T, name, got string, replace ...string) {
	t.Helper()
	replace = append(replace, "version "+agentVersion()+"\n", "version $VERSION\n",
		"version "+agentVersion()+",", "version $VERSION,")
	got = strings.NewReplacer(replace...).Replace(got)
	got = libVersion.ReplaceAllLiteralString(got, "version $LIBVERSION)")
	path := filepath.Join("testdata", "doctor", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("doctor output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// twoTokens makes a SoftHSM with the tokens alice and bob.
func twoTokens(t *testing.T) *softhsm.Env {
	t.Helper()
	env := softhsm.New(t)
	for _, label := range []string{"alice", "bob"} {
		if err := env.InitToken(label, "12345678", "1234"); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// serial matches a SoftHSM token's serial number, new for each token.
var serial = regexp.MustCompile(`serial [0-9a-f]+\)`)

// TestDoctorHealthy runs doctor with the config of a running agent (its
// own process, on SoftHSM): doctor reports the agent's module with its two
// tokens and the origins it accepts, read from its command line and
// config, and then finds the config checked to be the same.
func TestDoctorHealthy(t *testing.T) {
	env := twoTokens(t)
	useFakeService(t, &fakeService{status: service.StatusRunning})
	dir := t.TempDir()
	cfgPath := writeConfig(t, `listen = "127.0.0.1:0"
modules = ["`+env.Module+`"]
state_dir = "`+filepath.Join(dir, "state")+`"
allowed_origins = ["https://ca.example.com", "https://shop.example.com"]
[[origin]]
origin = "https://shop.example.com"
methods = ["agent.info", "sign"]
`)
	ag := startAgentProcess(t, "--config", cfgPath)
	probe := testProbe(token.ReaderState{Available: true, Readers: []token.Reader{
		{Name: "Virtual PCD 00 00", Present: true, ATR: []byte{0x3b, 0x80}},
		{Name: "Virtual PCD 00 01"},
	}})
	var stdout, stderr bytes.Buffer
	if code := doctorWith(probe, []string{"--config", cfgPath, "--listen", ag.addr}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0; stderr %q", code, stderr.String())
	}
	got := serial.ReplaceAllLiteralString(stdout.String(), "serial $SERIAL)")
	checkGolden(t, "healthy", got, filepath.Dir(cfgPath), "$TMP", ag.addr, "$ADDR", env.Module, "$SOFTHSM",
		fmt.Sprintf("process %d: %s", ag.cmd.Process.Pid, binary(t)), "process $PID: $BIN")
}

// TestDoctorOtherAgent runs doctor with a config other than the running
// agent's, which was given its module and origin on its command line:
// doctor reports what the agent has (one of its modules failed), then
// where the config differs.
func TestDoctorOtherAgent(t *testing.T) {
	env := twoTokens(t)
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	modDir := t.TempDir()
	ag := startAgentProcess(t, "--listen", "127.0.0.1:0", "--module", env.Module, "--module", filepath.Join(modDir, "libgone.so"),
		"--allow-origin", "https://portal.example.com")
	cfgPath := writeConfig(t, `modules = ["`+env.Module+`", "`+filepath.Join(modDir, "libother.so")+`"]
allowed_origins = ["https://ca.example.com"]
`)
	probe := testProbe(token.ReaderState{Available: true})
	probe.Browsers = nil
	var stdout, stderr bytes.Buffer
	if code := doctorWith(probe, []string{"--config", cfgPath, "--listen", ag.addr}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1 (a module of the agent failed); stderr %q", code, stderr.String())
	}
	got := serial.ReplaceAllLiteralString(stdout.String(), "serial $SERIAL)")
	checkGolden(t, "other-agent", got, filepath.Dir(cfgPath), "$TMP", modDir, "$MODDIR", ag.addr, "$ADDR", env.Module, "$SOFTHSM",
		fmt.Sprintf("process %d: %s", ag.cmd.Process.Pid, binary(t)), "process $PID: $BIN")
}

// TestDoctorAgentInProcess: an agent whose process was not started as
// `tokenagent run` (here the test itself) is still asked what it has;
// which origins it accepts cannot be told, and doctor says why.
func TestDoctorAgentInProcess(t *testing.T) {
	env := twoTokens(t)
	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	dir := t.TempDir()
	cfgPath := writeConfig(t, "listen = \"127.0.0.1:0\"\nstate_dir = \""+filepath.Join(dir, "state")+"\"\n")
	addr := startRunAgent(t, "--config", cfgPath, "--module", env.Module).addr.String()
	var stdout, stderr bytes.Buffer
	if code := doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath, "--listen", addr}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0; stderr %q", code, stderr.String())
	}
	for _, want := range []string{
		"[ok]   agent: the agent answers at ws://" + addr + "/ws",
		"[ok]   agent module " + env.Module + ": ready (SoftHSM, version ",
		"); 2 tokens:\n         \"alice\" (SoftHSM v2, serial ",
		fmt.Sprintf("[info] agent origins: cannot tell which origins the agent accepts, which doctor reads from how it was started: process %d, listening at %s, was not started as tokenagent run: ", os.Getpid(), addr),
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("doctor's output lacks %q:\n%s", want, stdout.String())
		}
	}
}

// TestDoctorNoAgent: with no agent listening, doctor says so and loads
// the config's module itself, listing its tokens.
func TestDoctorNoAgent(t *testing.T) {
	env := twoTokens(t)
	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	addr := freeAddr(t)
	cfgPath := writeConfig(t, `listen = "`+addr+`"
modules = ["`+env.Module+`"]
`)
	probe := testProbe(token.ReaderState{Available: true})
	probe.Browsers = nil
	var stdout, stderr bytes.Buffer
	if code := doctorWith(probe, []string{"--config", cfgPath}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0; stderr %q", code, stderr.String())
	}
	checkGolden(t, "no-agent", stdout.String(), filepath.Dir(cfgPath), "$TMP", addr, "$ADDR", env.Module, "$SOFTHSM")
}

// TestDoctorAgentRefusesLocalPrograms: an agent that refuses connections
// without an Origin answers doctor's /healthz but not its socket; doctor
// says why and checks the config's modules itself.
func TestDoctorAgentRefusesLocalPrograms(t *testing.T) {
	env := twoTokens(t)
	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	dir := t.TempDir()
	cfgPath := writeConfig(t, "listen = \"127.0.0.1:0\"\nallow_no_origin = false\nmodules = [\""+env.Module+"\"]\nstate_dir = \""+filepath.Join(dir, "state")+"\"\n")
	addr := startRunAgent(t, "--config", cfgPath).addr.String()
	var stdout, stderr bytes.Buffer
	doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath, "--listen", addr}, &stdout, &stderr)
	for _, want := range []string{
		"[ok]   agent: the agent answers at ws://" + addr + "/ws",
		"[warn] agent: asking the agent what it has: it refuses programs without an Origin header (allow_no_origin = false), such as doctor",
		"[ok]   module " + env.Module + ": loaded (SoftHSM, version ",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("doctor's output lacks %q:\n%s", want, stdout.String())
		}
	}
}

func TestDoctorBroken(t *testing.T) {
	useFakeService(t, &fakeService{status: service.StatusStopped})
	modDir := t.TempDir()
	addr := freeAddr(t)
	cfgPath := writeConfig(t, `listen = "`+addr+`"
modules = ["`+filepath.Join(modDir, "missing", "libnone.so")+`"]
allow_no_origin = false
`)
	probe := testProbe(token.ReaderState{Err: fmt.Errorf("establishing pc/sc context: %w",
		&token.PCSCError{Func: "SCardEstablishContext", Code: scard.ErrNoService})})
	var stdout, stderr bytes.Buffer
	if code := doctorWith(probe, []string{"--config", cfgPath}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1; stderr %q", code, stderr.String())
	}
	checkGolden(t, "broken", stdout.String(), filepath.Dir(cfgPath), "$TMP", modDir, "$MODDIR", addr, "$ADDR")
}

func TestDoctorInvalidConfig(t *testing.T) {
	useFakeService(t, &fakeService{statusErr: service.ErrNotInstalled})
	cfgPath := writeConfig(t, "listen = \"127.0.0.1:0\"\nmax_connections = \"many\"\npoll_interval = \"1x\"\n")
	var stdout, stderr bytes.Buffer
	if code := doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1; stderr %q", code, stderr.String())
	}
	checkGolden(t, "invalid-config", stdout.String(), filepath.Dir(cfgPath), "$TMP")
}

// TestDoctorNoServiceManager: where no service manager runs, doctor says
// so as `service status` does, not "exit status 1".
func TestDoctorNoServiceManager(t *testing.T) {
	useFakeService(t, &fakeService{platform: "unix-systemv", statusErr: errors.New("exit status 1")})
	saved := pid1Name
	pid1Name = func() ([]byte, error) { return []byte("process_api\n"), nil }
	t.Cleanup(func() { pid1Name = saved })
	cfgPath := writeConfig(t, "max_connections = \"many\"\n")
	var stdout bytes.Buffer
	doctorWith(testProbe(token.ReaderState{Available: true}), []string{"--config", cfgPath}, &stdout, &bytes.Buffer{})
	if want := `[warn] service: no service manager: process 1 is "process_api", not an init system`; !strings.Contains(stdout.String(), want) {
		t.Errorf("doctor's output lacks %q:\n%s", want, stdout.String())
	}
}

func TestDoctorUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"--frobnicate"}} {
		var stdout, stderr bytes.Buffer
		if code := doctorWith(testProbe(token.ReaderState{}), args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
			t.Errorf("doctor %q = %d, %q; want 2 with usage", args, code, stderr.String())
		}
	}
}
