package ws

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// needIPv6Loopback skips a test on a system without [::1], unless CI is set.
func needIPv6Loopback(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no IPv6 loopback: %v (CI is set, so this is not skipped)", err)
		}
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// TestListenHoldsBothLoopbackAddresses: the agent listens on 127.0.0.1 and
// [::1] at one port, so that no other process can serve [::1]:PORT, and
// all three loopback origins are its own and reach it.
func TestListenHoldsBothLoopbackAddresses(t *testing.T) {
	needIPv6Loopback(t)
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	if squatter, err := net.Listen("tcp", "[::1]:"+ts.port); err == nil {
		squatter.Close()
		t.Fatalf("another process could listen on [::1]:%s beside the agent", ts.port)
	}
	for _, url := range []string{"ws://127.0.0.1:" + ts.port + "/ws", "ws://[::1]:" + ts.port + "/ws", "ws://localhost:" + ts.port + "/ws"} {
		for _, origin := range []string{"http://127.0.0.1:" + ts.port, "http://localhost:" + ts.port, "http://[::1]:" + ts.port} {
			c, resp, err := websocket.DefaultDialer.Dial(url, originHeader(origin))
			if err != nil {
				t.Errorf("%s from %s: %v (%v)", url, origin, err, resp)
				continue
			}
			c.Close()
		}
	}
}

// TestSquatterOnIPv6Loopback: another process took [::1]:PORT before the
// agent started on 127.0.0.1:PORT. The agent serves, says what it is
// missing, and takes neither localhost nor [::1] for its own origin: the
// squatter's page at http://localhost:PORT/ or http://[::1]:PORT/ gets no
// socket.
func TestSquatterOnIPv6Loopback(t *testing.T) {
	needIPv6Loopback(t)
	squatter, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(squatter.Addr().String())
	page := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>tokenagent</title>a fake self-service page")
	})}
	go func() { _ = page.Serve(squatter) }()
	t.Cleanup(func() { _ = page.Close() })

	ln, err := Listen("127.0.0.1:" + port)
	if err != nil {
		t.Fatalf("the agent could not listen on 127.0.0.1:%s: %v", port, err)
	}
	if ln.Missing == nil || !strings.Contains(ln.Missing.Error(), "[::1]:"+port) {
		t.Errorf("Missing = %v, want it to name [::1]:%s", ln.Missing, port)
	}
	srv := New(Config{AllowNoOrigin: true}, emptyAgent(t))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(t.Context())
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	socket := "ws://127.0.0.1:" + port + "/ws"
	for origin, want := range map[string]int{
		"http://127.0.0.1:" + port: http.StatusSwitchingProtocols,
		"http://localhost:" + port: http.StatusForbidden,
		"http://[::1]:" + port:     http.StatusForbidden,
	} {
		c, resp, err := websocket.DefaultDialer.Dial(socket, originHeader(origin))
		if err == nil {
			c.Close()
		}
		if resp == nil || resp.StatusCode != want {
			t.Errorf("a page of %s: %v %v, want status %d", origin, resp, err, want)
		}
	}
}
