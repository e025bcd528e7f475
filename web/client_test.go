package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/audit"
	"github.com/tokenagent/tokenagent/internal/browsertest"
	"github.com/tokenagent/tokenagent/internal/syncbuf"
	"github.com/tokenagent/tokenagent/token"
	"github.com/tokenagent/tokenagent/ws"
)

// TestClientInBrowser runs the JavaScript client's own tests
// (testdata/clienttest.js) in headless Chromium, against the real ws server
// and a few fake ones, from a page on a second loopback origin that imports
// the client across origins, as a portal would.
func TestClientInBrowser(t *testing.T) {
	ctx := browsertest.New(t)

	pageLn := listen(t, "0")
	_, pagePort, _ := net.SplitHostPort(pageLn.Addr().String())
	allowed := "http://127.0.0.1:" + pagePort // localhost:pagePort is the same page on an origin not allowed
	ag := startAgent(t, ws.Config{AllowedOrigins: []string{allowed}})
	fake := startFake(t)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, ag.port)
	})
	mux.Handle("GET /clienttest.js", http.FileServer(http.Dir("testdata")))
	mux.HandleFunc("POST /control/event", func(w http.ResponseWriter, r *http.Request) {
		ag.agent.ReadersChanged(token.ReaderState{Available: true, Readers: []token.Reader{{Name: "Test Reader", Present: true, ATR: []byte{0x3b, 0x00}}}})
	})
	mux.HandleFunc("POST /control/restart", func(w http.ResponseWriter, r *http.Request) {
		if err := ag.restart(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	pages := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = pages.Serve(pageLn) }()
	t.Cleanup(func() { _ = pages.Close() })

	dead := listen(t, "0")
	deadURL := "ws://" + dead.Addr().String() + "/ws"
	dead.Close() // nothing listens there now

	cfg := map[string]any{
		"agent":  "ws://127.0.0.1:" + ag.port + "/ws",
		"silent": fake.url("/silent"),
		"flaky":  fake.url("/flaky"),
		"dead":   deadURL,
	}

	t.Run("allowed origin", func(t *testing.T) {
		cfg["tests"] = []string{"exports", "info", "errors", "events", "reconnect", "timeout", "dropped", "closed", "unreachable", "backoff"}
		runPage(t, ctx, "http://127.0.0.1:"+pagePort+"/page", cfg)
		fake.checkBackoff(t, []int{40, 80, 80, 80, 80})
	})
	t.Run("origin not allowed", func(t *testing.T) {
		cfg["tests"] = []string{"exports", "forbidden"}
		runPage(t, ctx, "http://localhost:"+pagePort+"/page", cfg)
		if logs := ag.logs.String(); !strings.Contains(logs, "origin not allowed") || !strings.Contains(logs, "http://localhost:"+pagePort) {
			t.Errorf("the agent did not log refusing http://localhost:%s:\n%s", pagePort, logs)
		}
	})
}

// page imports the client from the agent, across origins, with the import
// line of the README.
const page = `<!doctype html>
<meta charset="utf-8">
<title>tokenagent.js tests</title>
<script type="module" onerror="window.__importError = 'importing the modules failed'">
import * as client from "http://127.0.0.1:%s/tokenagent.js";
import { run } from "/clienttest.js";
window.__run = (cfg) => run(client, cfg);
</script>
`

type jsResult struct {
	Name   string          `json:"name"`
	OK     bool            `json:"ok"`
	Detail string          `json:"detail"`
	MS     int             `json:"ms"`
	Value  json.RawMessage `json:"value"` // what the test returned
}

// runPage loads the page at url and runs the JavaScript tests cfg names,
// and returns their results by name.
func runPage(t *testing.T, ctx context.Context, url string, cfg map[string]any) map[string]jsResult {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 40*time.Second)
	defer cancel()
	ready, err := chromedp.Run(ctx, chromedp.Evaluate[string](`new Promise((resolve) => {
		const poll = () => window.__run ? resolve("") : window.__importError ? resolve(window.__importError) : setTimeout(poll, 20);
		poll();
	})`, chromedp.EvalAwaitPromise))
	if err != nil || ready != "" {
		t.Fatalf("page %s not ready: %q %v", url, ready, err)
	}
	results, err := chromedp.Run(ctx, chromedp.Evaluate[[]jsResult](fmt.Sprintf("window.__run(%s)", mustJSON(t, cfg)), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running the tests: %v", err)
	}
	want := cfg["tests"].([]string)
	if len(results) != len(want) {
		t.Fatalf("%d results for %d tests: %+v", len(results), len(want), results)
	}
	byName := map[string]jsResult{}
	for i, r := range results {
		if r.Name != want[i] {
			t.Errorf("result %d is %q, want %q", i, r.Name, want[i])
		}
		if r.OK {
			t.Logf("%s: ok (%d ms)", r.Name, r.MS)
		} else {
			t.Errorf("%s: %s", r.Name, r.Detail)
		}
		byName[r.Name] = r
	}
	return byName
}

// agentServer is the real ws server over an agent without tokens, which can
// be restarted on its port.
type agentServer struct {
	cfg   ws.Config
	agent *agent.Agent
	port  string
	logs  *syncbuf.Buffer // at debug level
	audit *syncbuf.Buffer // the agent's audit log

	mu     sync.Mutex
	srv    *ws.Server
	served chan error
}

// startAgent serves the agent over the PKCS#11 modules given (none: no
// tokens).
func startAgent(t *testing.T, cfg ws.Config, modules ...string) *agentServer {
	return serveAgent(t, cfg, listenAgent(t, "0"), modules...)
}

// serveAgent is startAgent on the listener ln.
func serveAgent(t *testing.T, cfg ws.Config, ln net.Listener, modules ...string) *agentServer {
	m := token.NewManager(modules, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	logs, auditLog := &syncbuf.Buffer{}, &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ag := agent.New(m, agent.Options{Version: "1.2.3", Audit: audit.New(auditLog, log)})
	return serveWith(t, cfg, ln, ag, logs, auditLog)
}

// alongside serves a's agent with cfg on another port, logging to a's log.
func (a *agentServer) alongside(t *testing.T, cfg ws.Config) *agentServer {
	return serveWith(t, cfg, listenAgent(t, "0"), a.agent, a.logs, a.audit)
}

func serveWith(t *testing.T, cfg ws.Config, ln net.Listener, ag *agent.Agent, logs, auditLog *syncbuf.Buffer) *agentServer {
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Version = "1.2.3"
	a := &agentServer{cfg: cfg, agent: ag, logs: logs, audit: auditLog}
	_, a.port, _ = net.SplitHostPort(ln.Addr().String())
	a.serve(ln)
	t.Cleanup(func() {
		if err := a.stop(); err != nil {
			t.Error(err)
		}
	})
	return a
}

func (a *agentServer) serve(ln net.Listener) {
	srv := ws.New(a.cfg, a.agent)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.mu.Lock()
	a.srv, a.served = srv, served
	a.mu.Unlock()
}

// stop shuts the server down, closing its sockets with 1001.
func (a *agentServer) stop() error {
	a.mu.Lock()
	srv, served := a.srv, a.served
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, ws.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// restart stops the server and serves a new one on the same port.
func (a *agentServer) restart() error {
	if err := a.stop(); err != nil {
		return err
	}
	ln, err := ws.Listen("127.0.0.1:" + a.port)
	if err != nil {
		return err
	}
	a.serve(ln)
	return nil
}
