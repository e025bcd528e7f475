package ws

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
)

// unknownToken is a well-formed token id that names no token.
const unknownToken = "0123456789abcdef0123456789abcdef"

// testServer is a Server serving on a loopback port of its own.
type testServer struct {
	srv    *Server
	port   string
	logs   *syncbuf.Buffer
	served chan error
}

// host is the Host a local client sends.
func (ts *testServer) host() string { return "127.0.0.1:" + ts.port }

// wsURL is the socket's URL.
func (ts *testServer) wsURL() string { return "ws://" + ts.host() + "/ws" }

// httpURL is the URL of path.
func (ts *testServer) httpURL(path string) string { return "http://" + ts.host() + path }

// emptyAgent is an agent over a token manager without modules.
func emptyAgent(t testing.TB) *agent.Agent {
	t.Helper()
	m := token.NewManager(nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	return agent.New(m, agent.Options{Version: "1.2.3", RenewBeforeDays: 30})
}

// startServer serves a with cfg on 127.0.0.1:0 until the test ends. setup,
// when given, adjusts the server before it serves.
func startServer(t *testing.T, cfg Config, a *agent.Agent, setup ...func(*Server)) *testServer {
	t.Helper()
	logs := &syncbuf.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Version == "" {
		cfg.Version = "1.2.3"
	}
	ln, err := Listen("127.0.0.1:0") // and [::1], as the agent listens
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ts := &testServer{srv: New(cfg, a), port: port, logs: logs, served: make(chan error, 1)}
	for _, f := range setup {
		f(ts.srv)
	}
	go func() { ts.served <- ts.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// client is a WebSocket client of a test server.
type client struct {
	t      *testing.T
	ws     *websocket.Conn
	nextID int
}

// dial opens a socket with the given request headers (nil: none), failing
// the test when the handshake does not succeed.
func (ts *testServer) dial(t *testing.T, header http.Header) *client {
	t.Helper()
	wsc, resp, err := websocket.DefaultDialer.Dial(ts.wsURL(), header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP status %d)", ts.wsURL(), err, status)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("dial: status %d, want 101", resp.StatusCode)
	}
	t.Cleanup(func() { _ = wsc.Close() })
	return &client{t: t, ws: wsc}
}

// handshake attempts a handshake and returns the HTTP status and whether the
// connection was upgraded.
func (ts *testServer) handshake(t *testing.T, header http.Header) (status int, upgraded bool) {
	t.Helper()
	wsc, resp, err := websocket.DefaultDialer.Dial(ts.wsURL(), header)
	if err == nil {
		_ = wsc.Close()
		return resp.StatusCode, true
	}
	if resp == nil {
		t.Fatalf("handshake: no response: %v", err)
	}
	return resp.StatusCode, false
}

// rpcResponse is a JSON-RPC response as the tests read it.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *struct {
		Code    int            `json:"code"`
		Message string         `json:"message"`
		Data    map[string]any `json:"data"`
	} `json:"error"`
}

// frameError sends frame and checks that the answer is the error code and
// reason for the request's id as sent.
func (c *client) frameError(t *testing.T, frame string, code int, reason, id string) rpcResponse {
	t.Helper()
	c.t = t
	c.sendRaw(frame)
	r := c.read()
	wantError(t, r, code, reason)
	if string(r.ID) != id {
		t.Errorf("id %.40s, want %.40s", r.ID, id)
	}
	return r
}

// sendRaw sends one text frame.
func (c *client) sendRaw(frame string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		c.t.Fatalf("sending: %v", err)
	}
}

// read reads one response frame and parses it with parseResponse.
func (c *client) read() rpcResponse {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, frame, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	if typ != websocket.TextMessage {
		c.t.Fatalf("response frame type %d, want text", typ)
	}
	return parseResponse(c.t, frame)
}

// parseResponse decodes a response frame, checking the envelope's
// invariants: the version, and exactly one of result and error.
func parseResponse(t *testing.T, frame []byte) rpcResponse {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(frame, &members); err != nil {
		t.Fatalf("response %s: %v", frame, err)
	}
	_, hasResult := members["result"]
	_, hasError := members["error"]
	if hasResult == hasError {
		t.Fatalf("response %s: want exactly one of result and error", frame)
	}
	if _, ok := members["id"]; !ok {
		t.Fatalf("response %s: no id", frame)
	}
	var r rpcResponse
	if err := json.Unmarshal(frame, &r); err != nil {
		t.Fatalf("response %s: %v", frame, err)
	}
	if r.JSONRPC != "2.0" {
		t.Fatalf("response %s: jsonrpc %q", frame, r.JSONRPC)
	}
	return r
}

// call sends a request with a fresh numeric id and returns its response.
// params nil sends none.
func (c *client) call(method string, params any) rpcResponse {
	c.t.Helper()
	return c.reply(method, c.send(method, params))
}

// send sends a request with a fresh numeric id and returns the id, so that
// the caller can do other things before it reads the response with reply.
// params nil sends none.
func (c *client) send(method string, params any) int {
	c.t.Helper()
	c.nextID++
	req := map[string]any{"jsonrpc": "2.0", "id": c.nextID, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
	return c.nextID
}

// reply reads the response to the request sent with id, the next one on
// the connection.
func (c *client) reply(method string, id int) rpcResponse {
	c.t.Helper()
	r := c.read()
	if want := fmt.Sprint(id); string(r.ID) != want {
		c.t.Fatalf("%s: response id %s, want %s", method, r.ID, want)
	}
	return r
}

// result calls method and decodes its result into a generic value, failing
// on an error response.
func (c *client) result(method string, params any) map[string]any {
	c.t.Helper()
	r := c.call(method, params)
	if r.Error != nil {
		c.t.Fatalf("%s: error %d %s %v", method, r.Error.Code, r.Error.Message, r.Error.Data)
	}
	var out map[string]any
	if err := json.Unmarshal(r.Result, &out); err != nil {
		c.t.Fatalf("%s: result %s: %v", method, r.Result, err)
	}
	return out
}

// wantError checks that r is an error with code and reason.
func wantError(t *testing.T, r rpcResponse, code int, reason string) {
	t.Helper()
	if r.Error == nil {
		t.Fatalf("got result %s, want error %d %s", r.Result, code, reason)
	}
	if r.Error.Code != code || r.Error.Data["reason"] != reason {
		t.Fatalf("got error %d %v (%s), want %d %s", r.Error.Code, r.Error.Data["reason"], r.Error.Message, code, reason)
	}
	if r.Error.Message == "" {
		t.Errorf("error %d has an empty message", code)
	}
}

// stillServes checks that the connection answers agent.info.
func (c *client) stillServes() {
	c.t.Helper()
	if got := c.result("agent.info", map[string]any{}); got["name"] != "tokenagent" {
		c.t.Fatalf("agent.info after the error: %v", got)
	}
}

// closeCode reads until the connection ends and returns the close code the
// server sent, or -1 when it ended without a close frame.
func (c *client) closeCode(within time.Duration) int {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open after %v", within)
		}
		return -1
	}
}

// keys checks that a JSON object has exactly the given members.
func keys(t *testing.T, what string, obj any, want ...string) map[string]any {
	t.Helper()
	m, ok := obj.(map[string]any)
	if !ok {
		t.Fatalf("%s: %T, want an object", what, obj)
	}
	if len(m) != len(want) {
		t.Errorf("%s: members %v, want %v", what, sortedKeys(m), want)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: member %q missing (have %v)", what, k, sortedKeys(m))
		}
	}
	return m
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// rawRequest is an HTTP/1.1 request written byte for byte, for what
// net/http's client will not send: several Host headers or none, an
// absolute-form target, a handshake from a client that never reads.
type rawRequest struct {
	method string   // default GET
	target string   // the request-target, e.g. "/ws" or "http://evil.test/ws"
	proto  string   // default HTTP/1.1
	hosts  []string // one Host header each; nil sends none
	origin string   // "" sends none
	body   string   // sent with its Content-Length
}

// String is the request's bytes; a target of /ws gets the upgrade headers.
func (r rawRequest) String() string {
	var b strings.Builder
	method, proto := cmp.Or(r.method, http.MethodGet), cmp.Or(r.proto, "HTTP/1.1")
	fmt.Fprintf(&b, "%s %s %s\r\n", method, r.target, proto)
	for _, h := range r.hosts {
		fmt.Fprintf(&b, "Host: %s\r\n", h)
	}
	if r.origin != "" {
		fmt.Fprintf(&b, "Origin: %s\r\n", r.origin)
	}
	if strings.HasSuffix(r.target, "/ws") {
		b.WriteString("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	} else {
		b.WriteString("Connection: close\r\n")
	}
	if r.body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n" + r.body)
	return b.String()
}

// exchange sends req on a new connection and returns the response's
// status. It reports errors rather than failing the test, so that any
// goroutine may call it.
func (ts *testServer) exchange(req rawRequest) (status int, err error) {
	nc, err := net.DialTimeout("tcp", ts.host(), 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(nc, req.String()); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// anyStrings converts a decoded JSON array of strings.
func anyStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}
