package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/internal/softhsm"
)

// TestServeWatchesTokens checks the wiring of the token watcher: with
// poll_interval from the config, a token made by another process reaches a
// subscribed client as tokens.changed within 2 s.
func TestServeWatchesTokens(t *testing.T) {
	env := softhsm.New(t)
	if err := env.InitToken("alice", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := "listen = \"127.0.0.1:0\"\npoll_interval = \"200ms\"\naudit_log = \"" + filepath.Join(dir, "audit.log") + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startRunAgent(t, "--config", cfgPath, "--module", env.Module)
	addr := ag.addr
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+addr.String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": map[string]any{}}); err != nil {
		t.Fatal(err)
	}
	var sub struct{ Result struct{ Subscribed bool } }
	if err := conn.ReadJSON(&sub); err != nil || !sub.Result.Subscribed {
		t.Fatalf("events.subscribe = %+v, %v", sub, err)
	}
	// events.subscribe answered after the watcher listed the tokens as its
	// baseline: bob, made now, is a change.
	if err := env.InitToken("bob", "12345678", "1234"); err != nil {
		t.Fatal(err)
	}
	made := time.Now()
	_ = conn.SetReadDeadline(made.Add(2 * time.Second))
	for {
		var ev struct {
			Method string
			Params struct{ Added []struct{ Label string } }
		}
		if err := conn.ReadJSON(&ev); err != nil {
			t.Fatalf("no tokens.changed adding bob within 2 s: %v\nlog:\n%s", err, ag.logs)
		}
		if ev.Method == "tokens.changed" && len(ev.Params.Added) == 1 && ev.Params.Added[0].Label == "bob" {
			t.Logf("added after %v", time.Since(made))
			return
		}
	}
}
