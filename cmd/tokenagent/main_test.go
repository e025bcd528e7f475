package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// writeConfig writes doc to a config file in a fresh directory and returns its path.
func writeConfig(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunRefusesABadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("listen = \"127.0.0.1:0\"\nmax_connections = \"many\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"run", "--config", path}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if want := path + ":2: key \"max_connections\""; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not name %q", stderr.String(), want)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage:") {
			t.Errorf("run(%q) = %d, %q; want 2 with usage", args, code, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "tokenagent") {
		t.Errorf("version: %d %q", code, stdout.String())
	}
}

// TestServeAndShutDown runs the agent as the command wires it, on SoftHSM,
// and stops it as SIGTERM would: connections are closed with 1001 and
// serve returns cleanly.
func TestServeAndShutDown(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("alice", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	auditPath := filepath.Join(dir, "audit.log")
	cfg := "listen = \"127.0.0.1:0\"\naudit_log = \"" + auditPath + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startRunAgent(t, "--config", cfgPath, "--module", env.Module)
	addr := ag.addr
	resp, err := http.Get("http://" + addr.String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if health["status"] != "ok" || health["protocol"] != float64(1) {
		t.Errorf("healthz = %v", health)
	}
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr.String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tokens.list"}); err != nil {
		t.Fatal(err)
	}
	var list struct {
		Result struct{ Tokens []struct{ Label string } }
	}
	if err := conn.ReadJSON(&list); err != nil || len(list.Result.Tokens) != 1 || list.Result.Tokens[0].Label != "alice" {
		t.Fatalf("tokens.list = %+v, %v", list, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- ag.stop() }()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read after shutdown: %v, want close 1001", err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("runAgent: %v", err)
	}
	if _, err := os.Stat(auditPath); err != nil {
		t.Errorf("audit log not created: %v", err)
	}
}

// runningAgent is the agent run in-process as `tokenagent run` runs it.
type runningAgent struct {
	addr   net.Addr
	logs   *lockedWriter
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startRunAgent runs runAgent with args until stop is called or the test
// ends, and returns once the agent listens.
func startRunAgent(t *testing.T, args ...string) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgent{logs: &lockedWriter{w: &bytes.Buffer{}}, cancel: cancel, done: make(chan error, 1)}
	addrs := make(chan net.Addr, 1)
	go func() { r.done <- runAgent(ctx, args, r.logs, func(a net.Addr) { addrs <- a }) }()
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("runAgent: %v", err)
		}
	})
	select {
	case r.addr = <-addrs:
		return r
	case err := <-r.done:
		r.done <- err
		t.Fatalf("agent stopped: %v\n%s", err, r.logs)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not start")
	}
	return nil
}

// stop shuts the agent down as SIGTERM would and returns what runAgent
// returned; calling it again returns the same.
func (r *runningAgent) stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(15 * time.Second):
			r.err = errors.New("agent did not shut down")
		}
	})
	return r.err
}

// lockedWriter lets the agent's goroutines log into one buffer.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
