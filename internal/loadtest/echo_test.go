package loadtest

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// echoAddrEnv, when set, makes the test binary serve echoServer on that
// address instead of running tests: the round-trip floor is measured
// against a process of its own, as the agent is.
const echoAddrEnv = "TOKENAGENT_LOADTEST_ECHO"

func TestMain(m *testing.M) {
	if addr := os.Getenv(echoAddrEnv); addr != "" {
		_ = http.ListenAndServe(addr, http.HandlerFunc(echoServer))
		return
	}
	os.Exit(m.Run())
}

// echoServer answers every JSON-RPC request on a WebSocket with an empty
// result, doing nothing else: what a round trip costs on this machine with
// no agent in it.
func echoServer(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		var req struct{ ID json.RawMessage }
		if c.ReadJSON(&req) != nil {
			return
		}
		if c.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": struct{}{}}) != nil {
			return
		}
	}
}

// startEcho runs echoServer in a new process of this test binary and
// returns a client connected to it.
func startEcho(t *testing.T) *wsClient {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), echoAddrEnv+"="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := dialAgent(context.Background(), addr, "")
		if err == nil {
			t.Cleanup(c.close)
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo server not answering: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
