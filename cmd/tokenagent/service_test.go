package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kardianos/service"

	"github.com/tokenagent/tokenagent/installer"
)

// fakeService records the calls the commands make, in place of the
// machine's service manager.
type fakeService struct {
	mu        sync.Mutex
	calls     []string
	status    service.Status
	platform  string // "fake-init" when empty
	pid1      string // process 1's name, for noServiceManager; "process_api" when empty
	statusErr error
	err       error             // returned by the control methods
	run       func() error      // what Run does; nil: nothing
	prg       service.Interface // as given to newService
	cfg       *service.Config   // as given to newService
}

func (f *fakeService) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.err
}

func (f *fakeService) Run() error {
	if err := f.call("Run"); err != nil || f.run == nil {
		return err
	}
	return f.run()
}
func (f *fakeService) Start() error     { return f.call("Start") }
func (f *fakeService) Stop() error      { return f.call("Stop") }
func (f *fakeService) Restart() error   { return f.call("Restart") }
func (f *fakeService) Install() error   { return f.call("Install") }
func (f *fakeService) Uninstall() error { return f.call("Uninstall") }
func (f *fakeService) Logger(chan<- error) (service.Logger, error) {
	return nil, errors.New("no logger in tests")
}
func (f *fakeService) SystemLogger(chan<- error) (service.Logger, error) {
	return nil, errors.New("no logger in tests")
}
func (f *fakeService) String() string { return f.cfg.DisplayName }
func (f *fakeService) Platform() string {
	if f.platform != "" {
		return f.platform
	}
	return "fake-init"
}
func (f *fakeService) Status() (service.Status, error) {
	_ = f.call("Status")
	return f.status, f.statusErr
}

// useFakeService makes newService return f for the rest of the test.
func useFakeService(t *testing.T, f *fakeService) {
	t.Helper()
	old := newService
	newService = func(i service.Interface, c *service.Config) (service.Service, error) {
		f.prg, f.cfg = i, c
		return f, nil
	}
	t.Cleanup(func() { newService = old })
}

func TestServiceConfig(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "APPDATA": `C:\Users\u\AppData\Roaming`, "ProgramData": `C:\ProgramData`}
	getenv := func(k string) string { return env[k] }
	systemdScript := func(unit string) string {
		s, err := installer.SystemdTemplate(unit)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	plist, err := installer.LaunchdTemplate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		goos    string
		user    bool
		name    string
		config  string
		options service.KeyValue
	}{
		{"linux", false, "tokenagent", "/etc/tokenagent/config.toml", service.KeyValue{
			"UserService": false, "Restart": "on-failure", "SystemdScript": systemdScript(installer.SystemdUnit)}},
		{"linux", true, "tokenagent", "/home/u/.config/tokenagent/config.toml", service.KeyValue{
			"UserService": true, "Restart": "on-failure", "SystemdScript": systemdScript(installer.SystemdUserUnit)}},
		{"darwin", false, "com.tokenagent.agent", "/Library/Application Support/tokenagent/config.toml", service.KeyValue{
			"UserService": false, "LaunchdConfig": plist}},
		{"darwin", true, "com.tokenagent.agent", "/home/u/Library/Application Support/tokenagent/config.toml", service.KeyValue{
			"UserService": true, "LaunchdConfig": plist}},
		{"windows", false, "tokenagent", `C:\ProgramData\tokenagent\config.toml`, service.KeyValue{
			"OnFailure": "restart", "OnFailureDelayDuration": "2s"}},
	} {
		t.Run(fmt.Sprintf("%s/user=%v", tc.goos, tc.user), func(t *testing.T) {
			c, err := serviceConfig(tc.goos, tc.user, getenv)
			if err != nil {
				t.Fatal(err)
			}
			if c.Name != tc.name || c.DisplayName != "tokenagent" || c.Description == "" {
				t.Errorf("name %q, display name %q, description %q", c.Name, c.DisplayName, c.Description)
			}
			if want := []string{"run", "--config", tc.config}; !slices.Equal(c.Arguments, want) {
				t.Errorf("arguments %q, want %q", c.Arguments, want)
			}
			if len(c.Option) != len(tc.options) {
				t.Errorf("options %v, want %v", c.Option, tc.options)
			}
			for k, want := range tc.options {
				if got := c.Option[k]; got != want {
					t.Errorf("option %s = %v, want %v", k, got, want)
				}
			}
		})
	}
	if _, err := serviceConfig("windows", true, getenv); err == nil {
		t.Error("a per-user service on Windows did not fail")
	}
}

// TestServiceCommands checks that each subcommand calls its method of the
// service, built from the right config, and nothing else.
func TestServiceCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	for _, tc := range []struct {
		args   []string
		method string
		code   int
		out    string // in stdout
	}{
		{[]string{"install"}, "Install", 0, "installed"},
		{[]string{"install", "--user"}, "Install", 0, "as a user service"},
		{[]string{"uninstall"}, "Uninstall", 0, "uninstalled the system service"},
		{[]string{"start", "--user"}, "Start", 0, "started the user service"},
		{[]string{"stop"}, "Stop", 0, "stopped"},
		{[]string{"restart"}, "Restart", 0, "restarted"},
		{[]string{"status"}, "Status", 0, ": running"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := &fakeService{status: service.StatusRunning}
			useFakeService(t, f)
			var stdout, stderr bytes.Buffer
			if code := runService(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d; stderr %q", code, tc.code, stderr.String())
			}
			if !slices.Equal(f.calls, []string{tc.method}) {
				t.Errorf("calls %q, want [%s]", f.calls, tc.method)
			}
			if !strings.Contains(stdout.String(), tc.out) {
				t.Errorf("stdout %q does not say %q", stdout.String(), tc.out)
			}
			user := slices.Contains(tc.args, "--user")
			want, err := serviceConfig(runtime.GOOS, user, os.Getenv)
			if err != nil {
				t.Fatal(err)
			}
			if f.cfg.Name != want.Name || !slices.Equal(f.cfg.Arguments, want.Arguments) || f.cfg.Option["UserService"] != want.Option["UserService"] {
				t.Errorf("config %+v, want %+v", f.cfg, want)
			}
			if user && runtime.GOOS == "linux" && f.cfg.Arguments[2] != filepath.Join(home, ".config", "tokenagent", "config.toml") {
				t.Errorf("user config path %q", f.cfg.Arguments[2])
			}
		})
	}
}

func TestServiceStatusAndErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *fakeService
		args []string
		code int
		out  string // in stdout, or stderr when code is 1 or 2
	}{
		{"stopped", &fakeService{status: service.StatusStopped}, []string{"status"}, 3, ": stopped"},
		{"not installed", &fakeService{statusErr: service.ErrNotInstalled}, []string{"status"}, 3, ": not installed"},
		{"status fails", &fakeService{statusErr: errors.New("boom")}, []string{"status"}, 4, "reading the service status: boom"},
		{"no init system", &fakeService{platform: "unix-systemv", statusErr: errors.New("exit status 1")}, []string{"status"}, 4, `: no service manager: process 1 is "process_api", not an init system`},
		{"no user services", &fakeService{platform: "unix-systemv"}, []string{"status", "--user"}, 4, "(user service): no service manager: user services need systemd"},
		{"install without init system", &fakeService{platform: "unix-systemv"}, []string{"install"}, 1, "installing the system service: no service manager"},
		{"System V init", &fakeService{platform: "unix-systemv", pid1: "init", statusErr: service.ErrNotInstalled}, []string{"status"}, 3, ": not installed"},
		{"not root", &fakeService{err: fs.ErrPermission}, []string{"install"}, 1, "installing the system service: permission denied (the system service needs root"},
		{"fails", &fakeService{err: errors.New("boom")}, []string{"stop", "--user"}, 1, "stopping the user service: boom\n"},
		{"no action", &fakeService{}, nil, 2, "usage:"},
		{"unknown action", &fakeService{}, []string{"frobnicate"}, 2, `unknown service action "frobnicate"`},
		{"extra argument", &fakeService{}, []string{"start", "now"}, 2, "unexpected arguments"},
		{"unknown flag", &fakeService{}, []string{"start", "--system"}, 2, "usage:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			useFakeService(t, tc.f)
			pid1 := cmp.Or(tc.f.pid1, "process_api")
			saved := pid1Name
			pid1Name = func() ([]byte, error) { return []byte(pid1 + "\n"), nil }
			t.Cleanup(func() { pid1Name = saved })
			var stdout, stderr bytes.Buffer
			code := runService(tc.args, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.code || !strings.Contains(out, tc.out) {
				t.Errorf("exit code %d, output %q; want %d and %q", code, out, tc.code, tc.out)
			}
		})
	}
}

// TestRunManaged runs `tokenagent run` as the service manager would start
// it: the fake manager starts the program, waits until the agent listens,
// and stops it. The config file does not exist: the defaults apply.
func TestRunManaged(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir()) // the audit log
	oldInteractive, oldExit := interactive, exitProcess
	interactive = func() bool { return false }
	exitProcess = func(code int) { t.Errorf("the program exited with %d by itself", code) }
	t.Cleanup(func() { interactive, exitProcess = oldInteractive, oldExit })

	logs := &lockedWriter{w: &bytes.Buffer{}}
	f := &fakeService{}
	f.run = func() error {
		if err := f.prg.Start(f); err != nil {
			return err
		}
		for deadline := time.Now().Add(10 * time.Second); !logs.contains("tokenagent listening"); {
			if time.Now().After(deadline) {
				return errors.New("the agent did not start")
			}
			time.Sleep(10 * time.Millisecond)
		}
		return f.prg.Stop(f)
	}
	useFakeService(t, f)
	missing := filepath.Join(t.TempDir(), "config.toml")
	args := []string{"run", "--config", missing, "--listen", "127.0.0.1:0", "--module", filepath.Join(t.TempDir(), "none.so")}
	if code := run(args, &bytes.Buffer{}, logs); code != 0 {
		t.Errorf("exit code %d", code)
	}
	for _, want := range []string{"no config file at " + missing + "; using the defaults", "shutting down"} {
		if !logs.contains(want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if f.cfg.Name != serviceNameFor(runtime.GOOS) {
		t.Errorf("service name %q", f.cfg.Name)
	}
}

// TestAgentProgramFails checks that an agent stopping by itself ends the
// process with exit code 1, so that the manager restarts it.
func TestAgentProgramFails(t *testing.T) {
	exited := make(chan int, 1)
	logs := &lockedWriter{w: &bytes.Buffer{}}
	p := &agentProgram{args: []string{"--listen", "nowhere"}, log: logs, exit: func(code int) { exited <- code }}
	if err := p.Start(nil); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failed agent did not exit")
	}
	if !logs.contains(`tokenagent: flag --listen: invalid listen address "nowhere"`) {
		t.Errorf("log: %s", logs)
	}
}

func TestDropMissingConfig(t *testing.T) {
	existing := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "config.toml")
	for _, tc := range []struct {
		args, want []string
		logged     bool
	}{
		{[]string{"--config", existing}, []string{"--config", existing}, false},
		{[]string{"--config", missing}, []string{}, true},
		{[]string{"--listen", "x", "--config", missing, "--module", "m"}, []string{"--listen", "x", "--module", "m"}, true},
		{[]string{"-config=" + missing, "--module", "m"}, []string{"--module", "m"}, true},
		{[]string{"--config=" + existing}, []string{"--config=" + existing}, false},
		{[]string{"--module", "m"}, []string{"--module", "m"}, false},
	} {
		var log bytes.Buffer
		got := dropMissingConfig(slices.Clone(tc.args), &log)
		if !slices.Equal(got, tc.want) || (log.Len() > 0) != tc.logged {
			t.Errorf("dropMissingConfig(%q) = %q, log %q; want %q", tc.args, got, log.String(), tc.want)
		}
	}
}

// fakeLogger records what a service logger is given.
type fakeLogger struct{ lines []string }

func (l *fakeLogger) log(level string, v ...any) error {
	l.lines = append(l.lines, level+" "+fmt.Sprint(v...))
	return nil
}
func (l *fakeLogger) Error(v ...any) error            { return l.log("error", v...) }
func (l *fakeLogger) Warning(v ...any) error          { return l.log("warning", v...) }
func (l *fakeLogger) Info(v ...any) error             { return l.log("info", v...) }
func (l *fakeLogger) Errorf(f string, a ...any) error { return l.log("error", fmt.Sprintf(f, a...)) }
func (l *fakeLogger) Warningf(f string, a ...any) error {
	return l.log("warning", fmt.Sprintf(f, a...))
}
func (l *fakeLogger) Infof(f string, a ...any) error { return l.log("info", fmt.Sprintf(f, a...)) }

func TestServiceLogWriter(t *testing.T) {
	l := &fakeLogger{}
	w := &serviceLogWriter{l: l}
	for _, chunk := range []string{
		"time=x level=INFO msg=one\n",
		"time=x level=WARN msg=two\ntime=x level=ERR", "OR msg=three\n",
		"tokenagent: serving: boom\n",
		"partial",
	} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	want := []string{
		"info time=x level=INFO msg=one",
		"warning time=x level=WARN msg=two",
		"error time=x level=ERROR msg=three",
		"error tokenagent: serving: boom",
	}
	if !slices.Equal(l.lines, want) {
		t.Errorf("logged %q, want %q", l.lines, want)
	}
}

// String returns what was written so far.
func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// contains reports whether s was written.
func (l *lockedWriter) contains(s string) bool { return strings.Contains(l.String(), s) }
