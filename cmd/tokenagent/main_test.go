package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- runAgent(ctx, []string{"--config", cfgPath, "--module", env.Module}, &lockedWriter{w: &logs}, func(a net.Addr) { addrs <- a })
	}()
	var addr net.Addr
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("agent stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not start")
	}
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

	cancel()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = conn.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("read after shutdown: %v, want close 1001", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runAgent: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not shut down")
	}
	if _, err := os.Stat(auditPath); err != nil {
		t.Errorf("audit log not created: %v", err)
	}
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
