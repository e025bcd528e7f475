package ws

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// get does a plain HTTP GET with the given Host header ("" for the default).
func get(t *testing.T, url, host string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func originHeader(origin string) http.Header {
	return http.Header{"Origin": {origin}}
}

func TestHealthz(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true, Version: "9.8.7"}, emptyAgent(t))
	resp, body := get(t, ts.httpURL("/healthz"), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if want := `{"status":"ok","version":"9.8.7","protocol":1}`; body != want {
		t.Errorf("body %s, want %s", body, want)
	}
}

func TestRoutes(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	if resp, _ := get(t, ts.httpURL("/nope"), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: status %d, want 404", resp.StatusCode)
	}
	// /ws without the upgrade headers is refused by the upgrader.
	if resp, _ := get(t, ts.httpURL("/ws"), ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("plain GET /ws: status %d, want 400", resp.StatusCode)
	}
	resp, err := http.Post(ts.httpURL("/healthz"), "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: status %d, want 405", resp.StatusCode)
	}
	resp, body := get(t, ts.httpURL("/"), "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `src="/app/app.js"`) {
		t.Errorf("/: not the self-service page: %s", body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("/: Content-Security-Policy %q", csp)
	}
}

// TestHostCheck sends every route each Host a DNS-rebinding page or a
// confused client could produce. Host names compare case-insensitively, as
// DNS names do (RFC 4343), so LOCALHOST is the agent; a trailing dot, an
// IPv6 loopback spelt otherwise than [::1], or a port spelt otherwise than
// the listener's is not one of the names the contract lists and is refused.
// An absolute-form target names the host instead of the Host header
// (RFC 9112 section 3.2.2); browsers send one only to proxies.
func TestHostCheck(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	p := ts.port
	served := map[string]int{ // a route's status when the Host is allowed
		"/": http.StatusOK, "/ws": http.StatusSwitchingProtocols, "/healthz": http.StatusOK,
		"/tokenagent.js": http.StatusOK, "/tokenagent.d.ts": http.StatusOK, "/app/app.js": http.StatusOK,
		"/nope": http.StatusNotFound,
	}
	tests := []struct {
		name   string
		hosts  []string
		prefix string // before the path in the request-target: absolute form
		proto  string
		want   int // 0: the route's own status
	}{
		{name: "127.0.0.1", hosts: []string{"127.0.0.1:" + p}},
		{name: "localhost", hosts: []string{"localhost:" + p}},
		{name: "[::1]", hosts: []string{"[::1]:" + p}},
		{name: "upper case", hosts: []string{"LOCALHOST:" + p}},
		{name: "absolute form naming the agent", hosts: []string{"evil.test:" + p}, prefix: "http://127.0.0.1:" + p},

		{name: "rebound name", hosts: []string{"evil.test:" + p}, want: http.StatusForbidden},
		{name: "loopback address as a subdomain", hosts: []string{"127.0.0.1.evil.test:" + p}, want: http.StatusForbidden},
		{name: "localhost as a subdomain", hosts: []string{"localhost.evil.example:" + p}, want: http.StatusForbidden},
		{name: "trailing dot", hosts: []string{"localhost.:" + p}, want: http.StatusForbidden},
		{name: "no port", hosts: []string{"127.0.0.1"}, want: http.StatusForbidden},
		{name: "localhost without port", hosts: []string{"localhost"}, want: http.StatusForbidden},
		{name: "wrong port", hosts: []string{"127.0.0.1:1"}, want: http.StatusForbidden},
		{name: "port with a leading zero", hosts: []string{"127.0.0.1:0" + p}, want: http.StatusForbidden},
		{name: "empty port", hosts: []string{"127.0.0.1:"}, want: http.StatusForbidden},
		{name: "[::1] without port", hosts: []string{"[::1]"}, want: http.StatusForbidden},
		{name: "IPv6 loopback in full", hosts: []string{"[0:0:0:0:0:0:0:1]:" + p}, want: http.StatusForbidden},
		{name: "IPv4-mapped loopback", hosts: []string{"[::ffff:127.0.0.1]:" + p}, want: http.StatusForbidden},
		{name: "unbracketed IPv6", hosts: []string{"::1:" + p}, want: http.StatusForbidden},
		{name: "any address", hosts: []string{"0.0.0.0:" + p}, want: http.StatusForbidden},
		{name: "LAN address", hosts: []string{"192.168.0.1:" + p}, want: http.StatusForbidden},
		{name: "empty", hosts: []string{""}, want: http.StatusForbidden},
		{name: "absolute form naming another host", hosts: []string{"127.0.0.1:" + p}, prefix: "http://evil.test:" + p, want: http.StatusForbidden},
		{name: "HTTP/1.0 without Host", proto: "HTTP/1.0", want: http.StatusForbidden},
		// net/http itself refuses these.
		{name: "HTTP/1.1 without Host", want: http.StatusBadRequest},
		{name: "user info", hosts: []string{"evil@127.0.0.1:" + p}, want: http.StatusBadRequest},
		{name: "two Host headers", hosts: []string{"evil.test:" + p, "127.0.0.1:" + p}, want: http.StatusBadRequest},
		{name: "the same Host twice", hosts: []string{"127.0.0.1:" + p, "127.0.0.1:" + p}, want: http.StatusBadRequest},
	}
	for _, tt := range tests {
		for path, ok := range served {
			want := cmp.Or(tt.want, ok)
			status, err := ts.exchange(rawRequest{target: tt.prefix + path, proto: tt.proto, hosts: tt.hosts})
			if err != nil || status != want {
				t.Errorf("%s: GET %s%s Host %q: status %d (%v), want %d", tt.name, tt.prefix, path, tt.hosts, status, err, want)
			}
		}
	}
	if !strings.Contains(ts.logs.String(), "host not allowed") {
		t.Errorf("refusal not logged:\n%s", ts.logs.String())
	}
}

func TestOriginCheck(t *testing.T) {
	ts := startServer(t, Config{
		AllowedOrigins: []string{"https://ca.example.com", "HTTP://Portal.Example.com:80", "not an origin"},
		AllowNoOrigin:  false,
	}, emptyAgent(t))
	tests := []struct {
		origin string // "" sends none
		want   int
	}{
		{"https://ca.example.com", http.StatusSwitchingProtocols},
		{"https://CA.example.com:443", http.StatusSwitchingProtocols},
		{"http://portal.example.com", http.StatusSwitchingProtocols},
		{"http://127.0.0.1:" + ts.port, http.StatusSwitchingProtocols},
		{"http://localhost:" + ts.port, http.StatusSwitchingProtocols},
		{"http://[::1]:" + ts.port, http.StatusSwitchingProtocols},

		{"", http.StatusForbidden},
		{"https://evil.example", http.StatusForbidden},
		{"http://ca.example.com", http.StatusForbidden},
		{"https://ca.example.com:8443", http.StatusForbidden},
		{"https://ca.example.com.evil.example", http.StatusForbidden},
		{"https://127.0.0.1:" + ts.port, http.StatusForbidden},
		{"http://127.0.0.1:1", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"not an origin", http.StatusForbidden},
		{"https://ca.example.com/path", http.StatusForbidden},
	}
	for _, tt := range tests {
		var h http.Header
		if tt.origin != "" {
			h = originHeader(tt.origin)
		}
		status, upgraded := ts.handshake(t, h)
		if status != tt.want || upgraded != (tt.want == http.StatusSwitchingProtocols) {
			t.Errorf("Origin %q: status %d upgraded %v, want %d", tt.origin, status, upgraded, tt.want)
		}
	}
	// Two Origin headers are refused, even when both are allowed.
	h := http.Header{"Origin": {"https://ca.example.com", "https://ca.example.com"}}
	if status, upgraded := ts.handshake(t, h); upgraded || status != http.StatusForbidden {
		t.Errorf("two Origin headers: status %d upgraded %v, want 403", status, upgraded)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "origin not allowed") || !strings.Contains(logs, "https://evil.example") {
		t.Errorf("refusal not logged with its origin:\n%s", logs)
	}
	if !strings.Contains(logs, `"not an origin"`) {
		t.Errorf("bad allowed origin not warned about:\n%s", logs)
	}

	// allow_no_origin = true lets local programs in.
	local := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	if status, upgraded := local.handshake(t, nil); !upgraded {
		t.Errorf("no Origin with AllowNoOrigin: status %d, want 101", status)
	}
	if status, upgraded := local.handshake(t, originHeader("https://ca.example.com")); upgraded || status != http.StatusForbidden {
		t.Errorf("foreign origin with AllowNoOrigin: status %d, want 403", status)
	}
}

func TestMaxConnections(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true, MaxConnections: 2}, emptyAgent(t))
	c1 := ts.dial(t, nil)
	ts.dial(t, nil)
	status, upgraded := ts.handshake(t, nil)
	if upgraded || status != http.StatusServiceUnavailable {
		t.Fatalf("third connection: status %d upgraded %v, want 503", status, upgraded)
	}
	// Refused handshakes do not use up places.
	for range 3 {
		ts.handshake(t, http.Header{"Host": {"evil.example"}})
	}
	c1.stillServes()
	_ = c1.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if code := c1.closeCode(5 * time.Second); code != websocket.CloseNormalClosure {
		t.Errorf("close echoed with %d, want 1000", code)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, upgraded := ts.handshake(t, nil)
		if upgraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a place never came free: status %d", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOversizeFrame(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true, MaxMessageBytes: 1024}, emptyAgent(t))
	big, other := ts.dial(t, nil), ts.dial(t, nil)

	// Exactly the limit is fine.
	req := `{"jsonrpc":"2.0","id":1,"method":"agent.info"}`
	big.sendRaw(req + strings.Repeat(" ", 1024-len(req)))
	if r := big.read(); r.Error != nil {
		t.Fatalf("frame at the limit: %+v", r.Error)
	}

	big.sendRaw(`{"jsonrpc":"2.0","id":2,"method":"agent.info","params":{"x":"` + strings.Repeat("a", 4096) + `"}}`)
	if code := big.closeCode(5 * time.Second); code != websocket.CloseMessageTooBig {
		t.Fatalf("close code %d, want 1009", code)
	}
	other.stillServes()
	ts.dial(t, nil).stillServes()

	// The limit is on the message: fragments each under it that add up to
	// more close the connection too.
	d := websocket.Dialer{WriteBufferSize: 256}
	wsc, _, err := d.Dial(ts.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	fragmented := &client{t: t, ws: wsc}
	t.Cleanup(func() { _ = wsc.Close() })
	w, err := wsc.NextWriter(websocket.TextMessage)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":3,"method":"agent.info","params":{"x":"`+strings.Repeat("a", 4096)+`"}}`)
	_ = w.Close()
	if code := fragmented.closeCode(5 * time.Second); code != websocket.CloseMessageTooBig {
		t.Fatalf("fragmented: close code %d, want 1009", code)
	}
	other.stillServes()
}

func TestBinaryFrame(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	c, other := ts.dial(t, nil), ts.dial(t, nil)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"agent.info"}`)); err != nil {
		t.Fatal(err)
	}
	if code := c.closeCode(5 * time.Second); code != websocket.CloseUnsupportedData {
		t.Fatalf("close code %d, want 1003", code)
	}
	other.stillServes()
	if !strings.Contains(ts.logs.String(), "binary frame") {
		t.Errorf("binary frame not logged:\n%s", ts.logs.String())
	}
}

func TestProtocolErrorsKeepServing(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	c := ts.dial(t, nil)
	tests := []struct {
		name    string
		frame   string
		code    int
		reason  string
		id      string
		mention string // a word the message must contain
	}{
		{"not JSON", `{"jsonrpc":"2.0","id":1,`, -32700, "PARSE_ERROR", "null", ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"agent.info"}]`, -32600, "INVALID_REQUEST", "null", "batch"},
		{"wrong version", `{"jsonrpc":"1.0","id":"v","method":"agent.info"}`, -32600, "INVALID_REQUEST", `"v"`, ""},
		{"method not a string", `{"jsonrpc":"2.0","id":3,"method":["agent.info"]}`, -32600, "INVALID_REQUEST", "3", ""},
		{"id of a wrong type", `{"jsonrpc":"2.0","id":{"n":1},"method":"agent.info"}`, -32600, "INVALID_REQUEST", "null", ""},
		{"params array", `{"jsonrpc":"2.0","id":4,"method":"certs.list","params":["t"]}`, -32600, "INVALID_REQUEST", "4", ""},
		{"unknown method", `{"jsonrpc":"2.0","id":5,"method":"no.such"}`, -32601, "METHOD_NOT_FOUND", "5", "no.such"},
		{"missing param", `{"jsonrpc":"2.0","id":7,"method":"certs.list","params":{}}`, -32602, "INVALID_PARAMS", "7", `"token"`},
		{"no params at all", `{"jsonrpc":"2.0","id":8,"method":"lifetime.check"}`, -32602, "INVALID_PARAMS", "8", `"token"`},
		{"param of a wrong type", `{"jsonrpc":"2.0","id":9,"method":"certs.list","params":{"token":42}}`, -32602, "INVALID_PARAMS", "9", `"token"`},
		{"null param", `{"jsonrpc":"2.0","id":10,"method":"certs.list","params":{"token":null}}`, -32602, "INVALID_PARAMS", "10", `"token"`},
		{"bad time", `{"jsonrpc":"2.0","id":11,"method":"lifetime.check","params":{"token":"x","at":"yesterday"}}`, -32602, "INVALID_PARAMS", "11", `"at"`},
		{"time without zone", `{"jsonrpc":"2.0","id":12,"method":"lifetime.check","params":{"token":"x","at":"2027-01-01T00:00:00"}}`, -32602, "INVALID_PARAMS", "12", `"at"`},
		{"time of a wrong type", `{"jsonrpc":"2.0","id":13,"method":"lifetime.check","params":{"token":"x","at":1700000000}}`, -32602, "INVALID_PARAMS", "13", `"at"`},
		{"unknown token", `{"jsonrpc":"2.0","id":14,"method":"certs.list","params":{"token":"0123456789abcdef"}}`, 1001, "TOKEN_NOT_FOUND", "14", ""},
		{"unknown token, lifetime", `{"jsonrpc":"2.0","id":15,"method":"lifetime.check","params":{"token":"nope","at":"2027-01-01T00:00:00Z"}}`, 1001, "TOKEN_NOT_FOUND", "15", ""},
		{"unknown params are ignored", `{"jsonrpc":"2.0","id":16,"method":"certs.list","params":{"token":"nope","future":{"x":1}}}`, 1001, "TOKEN_NOT_FOUND", "16", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.frameError(t, tt.frame, tt.code, tt.reason, tt.id)
			if !strings.Contains(r.Error.Message, tt.mention) {
				t.Errorf("message %q does not mention %s", r.Error.Message, tt.mention)
			}
			c.stillServes()
		})
	}
}

// contractMethods reads the methods of docs/PROTOCOL.md section 4 from
// its headings ("### certs.list `{"token"}` → …"), in their order.
func contractMethods(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## 4. Methods\n")
	if !ok {
		t.Fatal("docs/PROTOCOL.md has no section 4. Methods")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var names []string
	for line := range strings.SplitSeq(section, "\n") {
		if rest, ok := strings.CutPrefix(line, "### "); ok {
			names = append(names, strings.Fields(rest)[0])
		}
	}
	return names
}

// TestMethodTableIsTheContract checks that Methods lists the contract's
// methods in its order, that the dispatcher serves exactly those, and that
// a method outside the contract is METHOD_NOT_FOUND.
func TestMethodTableIsTheContract(t *testing.T) {
	contract := contractMethods(t)
	if len(contract) < 16 {
		t.Fatalf("read %d methods from the contract: %q", len(contract), contract)
	}
	if got := Methods(); !slices.Equal(got, contract) {
		t.Errorf("Methods() = %q\nthe contract lists %q", got, contract)
	}
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	served := slices.Sorted(maps.Keys(ts.srv.methods))
	if want := slices.Sorted(slices.Values(contract)); !slices.Equal(served, want) {
		t.Errorf("the dispatcher serves %q\nthe contract lists %q", served, want)
	}
	c := ts.dial(t, nil)
	for _, m := range []string{"sign.all", "Agent.Info", "events.unsubscribe", ""} {
		r := c.call(m, map[string]any{})
		wantError(t, r, -32601, "METHOD_NOT_FOUND")
		c.stillServes()
	}
}

func TestNotificationsGetNoResponse(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	c := ts.dial(t, nil)
	for _, frame := range []string{
		`{"jsonrpc":"2.0","method":"agent.info"}`,
		`{"jsonrpc":"2.0","method":"no.such"}`,
		`{"jsonrpc":"2.0","method":"certs.list","params":{}}`,
		`{"jsonrpc":"2.0","method":"certs.list","params":{"token":"nope"}}`,
	} {
		c.sendRaw(frame)
	}
	// The next frame is the answer to this request, nothing sent before it.
	c.sendRaw(`{"jsonrpc":"2.0","id":"after","method":"agent.info"}`)
	if r := c.read(); string(r.ID) != `"after"` || r.Error != nil {
		t.Fatalf("got %s %+v, want the response to \"after\"", r.ID, r.Error)
	}
	// A malformed frame cannot be a notification: it is answered.
	c.sendRaw(`{"jsonrpc":"2.0","method":7}`)
	r := c.read()
	wantError(t, r, -32600, "INVALID_REQUEST")
	if string(r.ID) != "null" {
		t.Errorf("id %s, want null", r.ID)
	}
}

func TestIDsComeBackAsSent(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	c := ts.dial(t, nil)
	for _, id := range []string{`"a<b>&c"`, `1.50`, `-3`, `1e3`, `12345678901234567890123`, `null`, `"é"`, `""`} {
		c.sendRaw(`{"jsonrpc":"2.0","id":` + id + `,"method":"agent.info"}`)
		if r := c.read(); string(r.ID) != id || r.Error != nil {
			t.Errorf("id %s came back as %s (error %+v)", id, r.ID, r.Error)
		}
	}
}

// testMethods adds methods for tests: test.echo answers {"echo": params.v},
// test.wait waits until release(params.v) or the connection's end (then
// reports the end on cancelled), test.panic panics.
type testMethods struct {
	mu        sync.Mutex
	gates     map[string]chan struct{}
	started   chan string
	cancelled chan string
}

func newTestMethods() *testMethods {
	return &testMethods{gates: map[string]chan struct{}{}, started: make(chan string, 100), cancelled: make(chan string, 100)}
}

func (tm *testMethods) gate(name string) chan struct{} {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	g, ok := tm.gates[name]
	if !ok {
		g = make(chan struct{})
		tm.gates[name] = g
	}
	return g
}

func (tm *testMethods) release(name string) { close(tm.gate(name)) }

func (tm *testMethods) install(s *Server) {
	param := func(params json.RawMessage) string {
		var p struct{ V string }
		_ = json.Unmarshal(params, &p)
		return p.V
	}
	s.methods["test.echo"] = func(_ context.Context, _ *conn, params json.RawMessage) (any, error) {
		return map[string]string{"echo": param(params)}, nil
	}
	s.methods["test.wait"] = func(ctx context.Context, _ *conn, params json.RawMessage) (any, error) {
		v := param(params)
		tm.started <- v
		select {
		case <-tm.gate(v):
			return map[string]string{"waited": v}, nil
		case <-ctx.Done():
			tm.cancelled <- v
			return nil, ctx.Err()
		}
	}
	s.methods["test.unencodable"] = func(context.Context, *conn, json.RawMessage) (any, error) {
		return map[string]any{"c": make(chan int)}, nil
	}
	s.methods["test.panicjson"] = func(context.Context, *conn, json.RawMessage) (any, error) {
		return panicJSON{}, nil
	}
	s.methods["test.panic"] = func(_ context.Context, _ *conn, params json.RawMessage) (any, error) {
		var none []byte
		return none[len(params)], nil // index out of range
	}
}

// panicJSON panics when marshalled.
type panicJSON struct{}

func (panicJSON) MarshalJSON() ([]byte, error) { panic("marshal") }

func frameFor(id, method, v string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%q,"method":%q,"params":{"v":%q}}`, id, method, v)
}

func TestConcurrentRequests(t *testing.T) {
	tm := newTestMethods()
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t), tm.install)
	c := ts.dial(t, nil)

	c.sendRaw(frameFor("slow", "test.wait", "slow"))
	<-tm.started
	for i := range 20 {
		c.sendRaw(frameFor(fmt.Sprint("fast-", i), "test.echo", fmt.Sprint(i)))
	}
	seen := map[string]bool{}
	for range 20 {
		r := c.read()
		var res struct{ Echo string }
		if err := json.Unmarshal(r.Result, &res); err != nil || r.Error != nil {
			t.Fatalf("response %s: %s %+v", r.ID, r.Result, r.Error)
		}
		if want := fmt.Sprintf(`"fast-%s"`, res.Echo); string(r.ID) != want {
			t.Fatalf("result for %s came with id %s", want, r.ID)
		}
		seen[string(r.ID)] = true
	}
	if len(seen) != 20 {
		t.Fatalf("%d distinct responses, want 20", len(seen))
	}
	tm.release("slow")
	if r := c.read(); string(r.ID) != `"slow"` || string(r.Result) != `{"waited":"slow"}` {
		t.Fatalf("got %s %s, want the slow response last", r.ID, r.Result)
	}
}

func TestInFlightIsBounded(t *testing.T) {
	tm := newTestMethods()
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t), tm.install, func(s *Server) { s.inFlight = 2 })
	waits := slotWaits(ts.srv)
	c := ts.dial(t, nil)
	c.sendRaw(frameFor("a", "test.wait", "a"))
	c.sendRaw(frameFor("b", "test.wait", "b"))
	c.sendRaw(frameFor("e", "test.echo", "e"))
	<-tm.started
	<-tm.started
	wantSlotWait(t, waits, "test.echo") // e waits while both slots are busy
	c2 := ts.dial(t, nil)
	c2.sendRaw(frameFor("x", "test.wait", "x"))
	<-tm.started
	c2.sendRaw(frameFor("y", "test.echo", "y"))
	if r := c2.read(); string(r.ID) != `"y"` {
		t.Fatalf("other connection: got %s, want y: the bound is per connection", r.ID)
	}
	tm.release("x")
	if r := c2.read(); string(r.ID) != `"x"` {
		t.Fatalf("got %s, want x", r.ID)
	}
}

// slotWaits returns the methods of the requests that wait for a free slot
// on connections s makes from now on, as they start waiting: s logs it.
func slotWaits(s *Server) <-chan string {
	h := &slotWaitHandler{Handler: s.log.Handler(), waits: make(chan string, 100)}
	s.log = slog.New(h)
	return h.waits
}

// wantSlotWait waits for a request of method to wait for a slot.
func wantSlotWait(t *testing.T, waits <-chan string, method string) {
	t.Helper()
	select {
	case m := <-waits:
		if m != method {
			t.Fatalf("%s waited for a slot, want %s", m, method)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no request waited for a slot; want %s to", method)
	}
}

// slotWaitHandler passes records on and reports the slot waits among them.
type slotWaitHandler struct {
	slog.Handler
	waits chan string
}

func (h *slotWaitHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == slotWaitMessage {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "method" {
				h.waits <- a.Value.String()
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h *slotWaitHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &slotWaitHandler{Handler: h.Handler.WithAttrs(attrs), waits: h.waits}
}

func TestInFlightBackpressureReleases(t *testing.T) {
	tm := newTestMethods()
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t), tm.install, func(s *Server) { s.inFlight = 2 })
	waits := slotWaits(ts.srv)
	c := ts.dial(t, nil)
	c.sendRaw(frameFor("a", "test.wait", "a"))
	c.sendRaw(frameFor("b", "test.wait", "b"))
	c.sendRaw(frameFor("e", "test.echo", "e"))
	<-tm.started
	<-tm.started
	wantSlotWait(t, waits, "test.echo") // e waits while both slots are busy
	tm.release("a")
	got := []string{string(c.read().ID), string(c.read().ID)}
	if got[0] != `"a"` || got[1] != `"e"` {
		t.Fatalf("responses %v, want a then e", got)
	}
	tm.release("b")
	if r := c.read(); string(r.ID) != `"b"` {
		t.Fatalf("got %s, want b", r.ID)
	}
}

func TestPanicIsRecovered(t *testing.T) {
	tm := newTestMethods()
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t), tm.install)
	c := ts.dial(t, nil)
	c.sendRaw(`{"jsonrpc":"2.0","id":1,"method":"test.panic","params":{"pin":"s3cret-4711"}}`)
	r := c.read()
	wantError(t, r, -32603, "INTERNAL")
	if strings.Contains(r.Error.Message, "s3cret") {
		t.Errorf("message %q holds a param", r.Error.Message)
	}
	c.stillServes()
	// Results that fail to encode, or panic encoding, are INTERNAL too.
	for _, m := range []string{"test.unencodable", "test.panicjson"} {
		wantError(t, c.call(m, nil), -32603, "INTERNAL")
		c.stillServes()
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "panic in method handler") || !strings.Contains(logs, "goroutine") {
		t.Errorf("panic not logged with its stack:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret") {
		t.Errorf("log holds a param:\n%s", logs)
	}
}

func TestRequestContextEndsWithConnection(t *testing.T) {
	tm := newTestMethods()
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t), tm.install)
	c := ts.dial(t, nil)
	c.sendRaw(frameFor("w", "test.wait", "w"))
	<-tm.started
	_ = c.ws.Close()
	select {
	case v := <-tm.cancelled:
		if v != "w" {
			t.Fatalf("cancelled %s", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the request's context did not end with the connection")
	}
}

func TestPingPong(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true, PingInterval: 50 * time.Millisecond, PongWait: 300 * time.Millisecond}, emptyAgent(t))

	// A client that reads answers pings (gorilla's default handler does) and
	// stays connected though it sends nothing.
	alive := ts.dial(t, nil)
	var pings atomic.Int32
	alive.ws.SetPingHandler(func(data string) error {
		pings.Add(1)
		return alive.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	frames := make(chan []byte, 1)
	go func() {
		defer close(frames)
		for {
			_, frame, err := alive.ws.ReadMessage()
			if err != nil {
				return
			}
			frames <- frame
		}
	}()

	// A client that never reads answers no ping.
	deaf := ts.dial(t, nil)

	time.Sleep(1200 * time.Millisecond) // four times PongWait
	if n := pings.Load(); n < 5 {
		t.Errorf("%d pings in 1.2 s, want one every 50 ms", n)
	}

	if err := alive.ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"agent.info"}`)); err != nil {
		t.Fatalf("the answering client was dropped: %v", err)
	}
	select {
	case frame, ok := <-frames:
		if !ok || !strings.Contains(string(frame), `"name":"tokenagent"`) {
			t.Fatalf("answering client: got %q (open %v)", frame, ok)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("answering client: no response")
	}

	if code := deaf.closeCode(2 * time.Second); code != -1 {
		t.Errorf("silent client closed with %d, want dropped", code)
	}
	if !strings.Contains(ts.logs.String(), "peer not answering pings") {
		t.Errorf("drop not logged:\n%s", ts.logs.String())
	}
}

func TestPermissionDenied(t *testing.T) {
	ts := startServer(t, Config{
		AllowedOrigins: []string{"https://shop.example.com", "https://ca.example.com"},
		AllowNoOrigin:  true,
		OriginMethods:  map[string][]string{"HTTPS://shop.example.com:443": {"agent.info", "certs.list"}},
	}, emptyAgent(t))
	shop := ts.dial(t, originHeader("https://shop.example.com"))
	shop.stillServes()
	wantError(t, shop.call("tokens.list", map[string]any{}), 1030, "PERMISSION_DENIED")
	wantError(t, shop.call("lifetime.check", map[string]any{"token": "x"}), 1030, "PERMISSION_DENIED")
	wantError(t, shop.call("certs.list", map[string]any{"token": "x"}), 1001, "TOKEN_NOT_FOUND")
	wantError(t, shop.call("no.such", nil), -32601, "METHOD_NOT_FOUND")
	shop.stillServes()
	if !strings.Contains(ts.logs.String(), "PERMISSION_DENIED") {
		t.Errorf("refusal not logged:\n%s", ts.logs.String())
	}

	for name, h := range map[string]http.Header{"other origin": originHeader("https://ca.example.com"), "no origin": nil} {
		c := ts.dial(t, h)
		if r := c.call("tokens.list", map[string]any{}); r.Error != nil {
			t.Errorf("%s: tokens.list: %+v", name, r.Error)
		}
	}
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	c1, c2 := ts.dial(t, nil), ts.dial(t, nil)
	c1.stillServes()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(ctx) }()
	for i, c := range []*client{c1, c2} {
		if code := c.closeCode(5 * time.Second); code != websocket.CloseGoingAway {
			t.Errorf("connection %d: close code %d, want 1001", i+1, code)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial(ts.wsURL(), nil); err == nil {
		t.Fatal("dial after Shutdown succeeded")
	}
}

// TestShutdownClosesUnusedConnections: browsers open spare connections
// that may never carry a request; Shutdown closes them at once instead of
// waiting the 5 s net/http gives such a connection before it counts it idle.
func TestShutdownClosesUnusedConnections(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	spare, err := net.Dial("tcp", ts.host())
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !ts.srv.hasUnused() {
		if time.Now().After(deadline) {
			t.Fatal("the server never saw the spare connection")
		}
		time.Sleep(time.Millisecond) // waiting for the accept, not for time to pass
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a spare connection open: %v", err)
	}
	if err := spare.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := spare.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the spare connection is still open after Shutdown (read %d bytes, %v)", n, err)
	}
}

func (s *Server) hasUnused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.unused) > 0
}

func TestShutdownIsBoundedByItsContext(t *testing.T) {
	tm := newTestMethods()
	tm.gate("stuck")
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t), tm.install, func(s *Server) {
		// A method that ignores its context, like a hung PKCS#11 call.
		s.methods["test.stuck"] = func(context.Context, *conn, json.RawMessage) (any, error) {
			tm.started <- "stuck"
			<-tm.gate("stuck")
			return nil, nil
		}
	})
	defer tm.release("stuck")
	c := ts.dial(t, nil)
	c.sendRaw(`{"jsonrpc":"2.0","id":1,"method":"test.stuck"}`)
	<-tm.started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
}

func TestServeOnce(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	get(t, ts.httpURL("/healthz"), "") // the first Serve has started
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ts.srv.Serve(ln); err == nil || errors.Is(err, ErrServerClosed) {
		t.Fatalf("second Serve = %v, want an error", err)
	}
}
