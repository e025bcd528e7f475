package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/ws"
)

// resolveToLoopback has Chromium resolve the test's made-up names to
// 127.0.0.1, as a DNS-rebinding attacker's name would.
var resolveToLoopback = chromedp.Flag("host-resolver-rules", "MAP evil.test 127.0.0.1, MAP portal.test 127.0.0.1")

// socketAttempt opens a WebSocket to the URL in its argument and sends
// agent.info once it is open. It resolves with whether the socket opened,
// the name agent.info answered, and the close code when it closed first.
const socketAttempt = `(url) => new Promise((resolve) => {
	const ws = new WebSocket(url);
	let opened = false;
	ws.onopen = () => { opened = true; ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "agent.info" })); };
	ws.onmessage = (e) => { ws.close(); resolve({ opened, name: JSON.parse(e.data).result.name, code: 0 }); };
	ws.onclose = (e) => resolve({ opened, name: "", code: e.code });
})`

type socketOutcome struct {
	Opened bool   `json:"opened"`
	Name   string `json:"name"`
	Code   int    `json:"code"`
}

// run evaluates js in the page at url, awaiting a promise, and returns its
// value.
func run[T any](t *testing.T, ctx context.Context, url, js string) T {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("in %s, evaluating %.80s: %v", url, js, err)
	}
	return v
}

// TestCrossSiteSocketInBrowser: the same page, served on an allowed origin
// and on a foreign one, opens a socket to the agent. The agent refuses the
// foreign one's handshake with 403, so the page sees the socket fail.
func TestCrossSiteSocketInBrowser(t *testing.T) {
	ctx := browsertest.New(t, resolveToLoopback)
	pageLn := listen(t, "0")
	_, pagePort, _ := net.SplitHostPort(pageLn.Addr().String())
	pages := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>a portal</title>")
	})}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })
	allowed, foreign := "http://portal.test:"+pagePort, "http://evil.test:"+pagePort
	ag := startAgent(t, ws.Config{AllowedOrigins: []string{allowed}})
	attempt := fmt.Sprintf("(%s)(%q)", socketAttempt, "ws://127.0.0.1:"+ag.port+"/ws")

	if got := run[socketOutcome](t, ctx, allowed+"/", attempt); !got.Opened || got.Name != "tokenagent" {
		t.Errorf("from the allowed origin %s: %+v, want an open socket answering agent.info", allowed, got)
	}
	if got := run[socketOutcome](t, ctx, foreign+"/", attempt); got.Opened || got.Code != 1006 {
		t.Errorf("from the foreign origin %s: %+v, want a socket that never opened (1006)", foreign, got)
	}
	refusal := fmt.Sprintf(`reason="origin not allowed" status=403 path=/ws host=127.0.0.1:%s origin=%s`, ag.port, foreign)
	if logs := ag.logs.String(); !strings.Contains(logs, refusal) {
		t.Errorf("the agent did not log %s:\n%s", refusal, logs)
	}
}

// TestDNSRebindingInBrowser: a page at http://evil.test:PORT/, where
// evil.test resolves to 127.0.0.1 and PORT is the agent's, is fetched from
// the agent itself. The agent answers it 403, and the page's same-origin
// requests for every route too, since their Host names evil.test.
func TestDNSRebindingInBrowser(t *testing.T) {
	ctx := browsertest.New(t, resolveToLoopback)
	ag := startAgent(t, ws.Config{})
	rebound := "evil.test:" + ag.port
	got := run[map[string]any](t, ctx, "http://"+rebound+"/", fmt.Sprintf(`(async () => {
		const out = { body: document.body.innerText.trim() };
		for (const path of ["/", "/healthz", "/tokenagent.js", "/tokenagent.d.ts"]) out[path] = (await fetch(path)).status;
		out["/ws"] = await (%s)("ws://%s/ws");
		return out;
	})()`, socketAttempt, rebound))
	want := map[string]any{"body": "host not allowed", "/": 403.0, "/healthz": 403.0, "/tokenagent.js": 403.0, "/tokenagent.d.ts": 403.0,
		"/ws": map[string]any{"opened": false, "name": "", "code": 1006.0}}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("the page at http://%s/ saw %s, want %s", rebound, g, w)
	}
	logs := ag.logs.String()
	for _, path := range []string{"/", "/healthz", "/tokenagent.js", "/tokenagent.d.ts", "/ws"} {
		if refusal := fmt.Sprintf(`reason="host not allowed" status=403 path=%s host=%s`, path, rebound); !strings.Contains(logs, refusal) {
			t.Errorf("the agent did not log %s", refusal)
		}
	}
	if t.Failed() {
		t.Logf("agent log:\n%s", logs)
	}
}

// TestSquatterPageInBrowser: a local process took [::1]:PORT before the
// agent started on 127.0.0.1:PORT, and serves a fake self-service page.
// Loaded in Chromium at http://[::1]:PORT/ or http://localhost:PORT/, the
// page gets no socket from the agent: the agent holds only 127.0.0.1, so
// neither origin is its own (issue 18 found the page answered as trusted).
func TestSquatterPageInBrowser(t *testing.T) {
	squatter, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no IPv6 loopback: %v (CI is set, so this is not skipped)", err)
		}
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_, port, _ := net.SplitHostPort(squatter.Addr().String())
	fake := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>tokenagent</title>a fake self-service page")
	})}
	go func() { _ = fake.Serve(squatter) }()
	t.Cleanup(func() { _ = fake.Close() })
	ln, err := ws.Listen("127.0.0.1:" + port)
	if err != nil {
		t.Fatal(err)
	}
	if ln.Missing == nil {
		t.Fatalf("the agent listens on [::1]:%s although another process holds it", port)
	}
	ag := serveAgent(t, ws.Config{AllowNoOrigin: true}, ln)
	ctx := browsertest.New(t)
	attempt := fmt.Sprintf("(%s)(%q)", socketAttempt, "ws://127.0.0.1:"+port+"/ws")
	for _, page := range []string{"http://[::1]:" + port + "/", "http://localhost:" + port + "/"} {
		if got := run[socketOutcome](t, ctx, page, attempt); got.Opened || got.Code != 1006 {
			t.Errorf("the page at %s: %+v, want a socket that never opened", page, got)
		}
	}
	if logs := ag.logs.String(); !strings.Contains(logs, `reason="origin not allowed"`) {
		t.Errorf("the agent did not log refusing the squatter's origin:\n%s", logs)
	}
}

// hammer has the page call sign n times with pin over conns connections of
// its own origin, one call after another or all at once, and resolves with
// each call's outcome: ok or the error's reason, and retryAfterSeconds.
const hammer = `async (cfg) => {
	const { connect } = await import("/tokenagent.js");
	const url = "ws://" + location.host + "/ws";
	const conns = await Promise.all(Array.from({ length: cfg.conns }, () => connect(url, { reconnect: false })));
	const call = (i) => conns[i % conns.length].call("sign", { token: cfg.token, cert: cfg.cert, pin: cfg.pin, data: "aGVsbG8=" })
		.then(() => ({ reason: "ok", retryAfter: 0 }), (e) => ({ reason: e.reason, retryAfter: e.data?.retryAfterSeconds ?? 0 }));
	let out = [];
	if (cfg.concurrent) out = await Promise.all(Array.from({ length: cfg.n }, (_, i) => call(i)));
	else for (let i = 0; i < cfg.n; i++) out.push(await call(i));
	conns.forEach((c) => c.close());
	return out;
}`

type callOutcome struct {
	Reason     string `json:"reason"`
	RetryAfter int    `json:"retryAfter"`
}

// TestPINHammeringInBrowser: pages on the agent's two loopback origins fire
// wrong PINs at the tokens, one call after another, all at once, and over
// several connections. Per origin and token only 3 PIN tries reach the
// token (counted by the PKCS#11 shim); the rest are RATE_LIMITED with
// retryAfterSeconds, and another origin gets only the rest of the token's
// ceiling of 5. Every call has its audit line, and no line and no log
// holds the PIN.
func TestPINHammeringInBrowser(t *testing.T) {
	f, ctl := newPageFixture(t, true)
	alice, bob := f.tokenID("alice"), f.tokenID("legacy-bob")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(f.origin, "http://"))
	a, b := f.origin, "http://localhost:"+port // both the agent's own, so allowed; two origins to the throttle
	const wrongPIN = "zq-wrong-pin"
	cert := map[string]string{alice: "01", bob: "03"}
	tests := []struct {
		name              string
		origin, token     string
		pin               string
		conns, n          int
		concurrent        bool
		incorrect, logins int // PIN_INCORRECT answers, C_Login calls
		limited, ok       int
	}{
		{"one after another", a, alice, wrongPIN, 1, 100, false, 3, 3, 97, 0},
		{"all at once", a, bob, wrongPIN, 1, 100, true, 3, 3, 97, 0},
		{"another origin, all at once over four connections: the token's ceiling", b, alice, wrongPIN, 4, 100, true, 2, 2, 98, 0},
		{"the right PIN while throttled", a, alice, userPIN, 1, 1, false, 0, 0, 1, 0},
		{"another origin with the right PIN", b, bob, userPIN, 1, 1, false, 0, 1, 0, 1},
	}
	wantAudit := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl.ClearCalls(t)
			cfg := map[string]any{"token": tt.token, "cert": cert[tt.token], "pin": tt.pin, "conns": tt.conns, "n": tt.n, "concurrent": tt.concurrent}
			got := run[[]callOutcome](t, f.ctx, tt.origin+"/healthz", fmt.Sprintf("(%s)(%s)", hammer, mustJSON(t, cfg)))
			counts := map[string]int{}
			for i, o := range got {
				counts[o.Reason]++
				if o.Reason == "RATE_LIMITED" && (o.RetryAfter < 1 || o.RetryAfter > 600) {
					t.Errorf("call %d: retryAfterSeconds %d, want 1 to 600", i, o.RetryAfter)
				}
				if !tt.concurrent && o.Reason == "PIN_INCORRECT" && i >= tt.incorrect {
					t.Errorf("call %d answered PIN_INCORRECT after the throttle began", i)
				}
				wantAudit[fmt.Sprintf("%s %s %s", tt.origin, tt.token, o.Reason)]++
			}
			want := map[string]int{"PIN_INCORRECT": tt.incorrect, "RATE_LIMITED": tt.limited, "ok": tt.ok}
			for reason, n := range want {
				if counts[reason] != n {
					t.Errorf("%d calls: outcomes %v, want %v", tt.n, counts, want)
					break
				}
			}
			if n := ctl.Called(t, "C_Login"); n != tt.logins {
				t.Errorf("%d C_Login calls reached the token, want %d", n, tt.logins)
			}
		})
	}

	gotAudit := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(f.audit.String()), "\n") {
		var rec struct{ Origin, Method, Token, Outcome string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Method != "sign" {
			t.Errorf("audit line %s: %v", line, err)
			continue
		}
		gotAudit[fmt.Sprintf("%s %s %s", rec.Origin, rec.Token, rec.Outcome)]++
	}
	if g, w := mustJSON(t, gotAudit), mustJSON(t, wantAudit); g != w {
		t.Errorf("audit lines by origin, token and outcome:\n%s\nwant\n%s", g, w)
	}
	if strings.Contains(f.audit.String(), wrongPIN) {
		t.Error("the audit log holds the PIN")
	}
}

// TestBusyAgentInBrowser: with the places of a portal's origin and of the
// agent's own page all taken (by sockets a local program holds, forging
// the Origin), the portal's client rejects connect with AGENT_UNREACHABLE
// and data.busy, and the self-service page says the agent is busy, not
// that it is not running, in each of its languages.
func TestBusyAgentInBrowser(t *testing.T) {
	ctx := browsertest.New(t)
	pageLn := listen(t, "0")
	pages := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>a portal</title>")
	})}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })
	// On loopback, so that the browser asks nobody's permission.
	portal := "http://" + pageLn.Addr().String()
	ag := startAgent(t, ws.Config{AllowNoOrigin: true, AllowedOrigins: []string{portal}, MaxConnectionsPerOrigin: 2})
	own := "http://127.0.0.1:" + ag.port
	for _, origin := range []string{portal, own} {
		for range 2 {
			c, _, err := websocket.DefaultDialer.Dial("ws://127.0.0.1:"+ag.port+"/ws", http.Header{"Origin": {origin}})
			if err != nil {
				t.Fatalf("holding a place of %s: %v", origin, err)
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}

	got := run[map[string]any](t, ctx, portal+"/", fmt.Sprintf(`(async () => {
		const { connect } = await import("%s/tokenagent.js");
		try {
			await connect("ws://127.0.0.1:%s/ws", { reconnect: false });
			return { reason: "connected" };
		} catch (e) {
			return { reason: e.reason, busy: e.data?.busy ?? null, agentRunning: e.data?.agentRunning ?? null, message: e.message };
		}
	})()`, own, ag.port))
	if got["reason"] != "AGENT_UNREACHABLE" || got["busy"] != true || got["agentRunning"] != true {
		t.Errorf("the portal's connect: %v, want AGENT_UNREACHABLE with busy and agentRunning", got)
	}

	for lang, says := range map[string]string{
		"en": "The tokenagent service is running but has too many connections",
		"ru": "Служба tokenagent запущена, но сейчас у неё открыто слишком много соединений",
		"zh": "tokenagent 服务正在运行，但当前打开的连接过多",
	} {
		cond := fmt.Sprintf(`document.getElementById("notice").textContent.startsWith(%q)`, says)
		if !run[bool](t, ctx, own+"/?lang="+lang, `new Promise((resolve) => { const poll = () => { if (`+cond+`) return resolve(true); setTimeout(poll, 25); }; poll(); })`) {
			t.Errorf("%s: the self-service page does not say the agent is busy", lang)
		}
	}
}

// TestIdleConnectionInBrowser: the agent closes a portal's socket that had
// no request for IdleTimeout; the client dispatches "idle" (not "close"),
// and its next call opens a socket again and is answered.
func TestIdleConnectionInBrowser(t *testing.T) {
	ctx := browsertest.New(t)
	pageLn := listen(t, "0")
	pages := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>a portal</title>")
	})}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })
	portal := "http://" + pageLn.Addr().String()
	ag := startAgent(t, ws.Config{AllowedOrigins: []string{portal}, IdleTimeout: 300 * time.Millisecond})
	got := run[map[string]any](t, ctx, portal+"/", fmt.Sprintf(`(async () => {
		const { connect } = await import("http://127.0.0.1:%[1]s/tokenagent.js");
		const agent = await connect("ws://127.0.0.1:%[1]s/ws");
		let closes = 0;
		agent.addEventListener("close", () => closes++);
		await new Promise((resolve) => agent.addEventListener("idle", resolve, { once: true }));
		const connectedWhileIdle = agent.connected;
		const info = await agent.call("agent.info", {});
		const out = { connectedWhileIdle, name: info.name, connected: agent.connected, closes };
		agent.close();
		return out;
	})()`, ag.port))
	if got["connectedWhileIdle"] != false || got["name"] != "tokenagent" || got["connected"] != true || got["closes"] != 0.0 {
		t.Errorf("idle and after: %v, want not connected while idle, agent.info answered on a new socket, no close event", got)
	}
}
