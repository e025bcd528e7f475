package web_test

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/ws"
)

// fakeAgent is a WebSocket server that misbehaves on purpose:
//   - /silent accepts and never answers; a request for test.drop makes it
//     drop the connection without a close frame;
//   - /flaky accepts the first handshake and closes that socket at once,
//     refuses the next four with 503, then accepts and keeps the socket
//     open. It records when each handshake came.
type fakeAgent struct {
	addr     string
	upgrader websocket.Upgrader

	mu       sync.Mutex
	attempts []time.Time // of /flaky
	conns    []*websocket.Conn
}

func startFake(t *testing.T) *fakeAgent {
	ln := listen(t, "0")
	f := &fakeAgent{
		addr:     ln.Addr().String(),
		upgrader: websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/silent", f.silent)
	mux.HandleFunc("/flaky", f.flaky)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close() // hijacked connections are not its own
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range f.conns {
			_ = c.Close()
		}
	})
	return f
}

func (f *fakeAgent) url(path string) string { return "ws://" + f.addr + path }

func (f *fakeAgent) upgrade(w http.ResponseWriter, r *http.Request) *websocket.Conn {
	c, err := f.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil
	}
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
	return c
}

func (f *fakeAgent) silent(w http.ResponseWriter, r *http.Request) {
	c := f.upgrade(w, r)
	if c == nil {
		return
	}
	for {
		_, frame, err := c.ReadMessage()
		if err != nil {
			return
		}
		var req struct{ Method string }
		if json.Unmarshal(frame, &req) == nil && req.Method == "test.drop" {
			_ = c.NetConn().Close()
			return
		}
	}
}

func (f *fakeAgent) flaky(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.attempts = append(f.attempts, time.Now())
	n := len(f.attempts)
	f.mu.Unlock()
	switch {
	case n == 1:
		if c := f.upgrade(w, r); c != nil {
			_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "bye"), time.Now().Add(time.Second))
			_ = c.Close()
		}
	case n <= 5:
		http.Error(w, "not now", http.StatusServiceUnavailable)
	default:
		if c := f.upgrade(w, r); c != nil {
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}
	}
}

// checkBackoff checks the gaps between the /flaky handshakes against the
// client's delays in milliseconds: each gap at least its delay, and the
// last, capped, one well short of what doubling on would give. The first
// delay must double up to the cap.
func (f *fakeAgent) checkBackoff(t *testing.T, delaysMS []int) {
	t.Helper()
	f.mu.Lock()
	attempts := append([]time.Time(nil), f.attempts...)
	f.mu.Unlock()
	if len(attempts) != len(delaysMS)+1 {
		t.Fatalf("%d handshakes on /flaky, want %d", len(attempts), len(delaysMS)+1)
	}
	const slack = 5 * time.Millisecond // timer and clock granularity
	gaps := make([]time.Duration, len(delaysMS))
	for i, ms := range delaysMS {
		gaps[i] = attempts[i+1].Sub(attempts[i]).Round(time.Millisecond)
		if want := time.Duration(ms) * time.Millisecond; gaps[i] < want-slack {
			t.Errorf("reconnection %d after %v, want at least %v", i+1, gaps[i], want)
		}
	}
	// Doubling without a cap would make the last delay this long; the
	// check meets it halfway, to leave room for a loaded machine.
	uncapped := time.Duration(delaysMS[0]<<(len(delaysMS)-1)) * time.Millisecond
	capped := time.Duration(delaysMS[len(delaysMS)-1]) * time.Millisecond
	if last := gaps[len(gaps)-1]; last >= (capped+uncapped)/2 {
		t.Errorf("last reconnection after %v, want about %v: the delay is not capped", last, capped)
	}
	t.Logf("reconnection gaps: %v", gaps)
}

// listen listens on a loopback port ("0": any free one).
func listen(t *testing.T, port string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// listenAgent listens for an agent as it listens: on both addresses of
// loopback at one port ("0": any free one).
func listenAgent(t *testing.T, port string) net.Listener {
	t.Helper()
	ln, err := ws.Listen("127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
