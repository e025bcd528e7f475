package ws

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// openFDs counts the process's open file descriptors; -1 where /proc does
// not tell.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// settles polls until the goroutines and file descriptors are back at
// base, and reports what they came to. It fails only when after 30 s they
// are still more than slack above: the runtime's own may come and go.
func settles(t *testing.T, baseG, baseFD int) (g, fd int) {
	t.Helper()
	const slack = 2
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, fd = runtime.NumGoroutine(), openFDs()
		if g <= baseG && fd <= baseFD {
			return g, fd
		}
		if time.Now().After(deadline) {
			if g > baseG+slack || fd > baseFD+slack {
				t.Errorf("goroutines %d (before %d), file descriptors %d (before %d): not back after 30 s", g, baseG, fd, baseFD)
			}
			return g, fd
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(i, 0)]
}

// TestForeignOriginFlood: 10,000 handshakes from a foreign origin, 50 at a
// time, are all refused with 403 and none upgraded, while an allowed
// connection keeps answering; afterwards nothing is left behind.
func TestForeignOriginFlood(t *testing.T) {
	const attempts, parallel = 10000, 50
	ts := startServer(t, Config{AllowNoOrigin: true, AllowedOrigins: []string{"https://ca.example.com"}}, emptyAgent(t))
	probe := ts.dial(t, originHeader("https://ca.example.com"))
	probe.stillServes()
	baseG, baseFD := runtime.NumGoroutine(), openFDs()

	var next, refused atomic.Int64
	var mu sync.Mutex
	other := map[string]int{} // anything but a 403, by status or error
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range parallel {
		wg.Go(func() {
			for next.Add(1) <= attempts {
				status, err := ts.exchange(rawRequest{target: "/ws", hosts: []string{ts.host()}, origin: "https://evil.example"})
				if err == nil && status == http.StatusForbidden {
					refused.Add(1)
					continue
				}
				mu.Lock()
				other[fmt.Sprintf("status %d, error %v", status, err)]++
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	// The allowed connection calls agent.info on this goroutine (the
	// client fails the test from here only) for as long as the flood runs.
	var during []time.Duration
	for flooding := true; flooding; {
		select {
		case <-done:
			flooding = false
		default:
			t0 := time.Now()
			probe.stillServes()
			during = append(during, time.Since(t0))
		}
	}
	elapsed := time.Since(start)

	if n := refused.Load(); n != attempts || len(other) > 0 {
		t.Errorf("%d of %d refused with 403; the others: %v", n, attempts, other)
	}
	// Every refusal is in the debug log, and only the first few at Info,
	// so that a page cannot flood the log.
	logs := ts.logs.String()
	if n := strings.Count(logs, `reason="origin not allowed"`); n != attempts {
		t.Errorf("%d refusals logged, want %d", n, attempts)
	}
	if n := strings.Count(logs, `level=INFO msg="request refused"`); n != refusalBurst {
		t.Errorf("%d refusals logged at Info, want %d", n, refusalBurst)
	}
	if len(during) == 0 {
		t.Fatal("agent.info never answered during the flood")
	}
	probe.stillServes()
	fresh := ts.dial(t, originHeader("https://ca.example.com"))
	fresh.stillServes()
	fresh.ws.Close()
	g, fd := settles(t, baseG, baseFD)
	t.Logf("%d handshakes in %v (%.0f/s), %d refused; agent.info during the flood: %d calls, p50 %v, p99 %v, max %v; goroutines %d → %d, fds %d → %d",
		attempts, elapsed.Round(time.Millisecond), attempts/elapsed.Seconds(), refused.Load(),
		len(during), percentile(during, 50), percentile(during, 99), slices.Max(during), baseG, g, baseFD, fd)
}

// slowClient is a kind of socket that never completes a request in time.
type slowClient struct {
	name  string
	n     int
	open  string        // sent at once
	drip  string        // then sent a byte at a time, over and over
	every time.Duration // between bytes
}

// TestSlowClientsAreBounded opens hundreds of sockets that dribble a
// request header a byte at a time, send nothing, dribble a body, or
// complete the upgrade and then go silent. While they are open a real
// client connects and calls, and MaxConnections counts only upgraded
// connections. Every slow socket is closed by a timeout.
func TestSlowClientsAreBounded(t *testing.T) {
	const timeout = 5 * time.Second // long enough that every check below runs while all are open
	const silentUpgraded = 3
	ts := startServer(t, Config{
		AllowNoOrigin:  true,
		MaxConnections: silentUpgraded + 3, // one of them kept for the agent's own page (places.go)
		RequestTimeout: timeout,
		PongWait:       timeout,
		PingInterval:   timeout / 4,
	}, emptyAgent(t))
	host := ts.host()
	upgrade := rawRequest{target: "/ws", hosts: []string{host}}.String()
	kinds := []slowClient{
		{name: "header a byte at a time", n: 300, open: "GET /ws HTTP/1.1\r\n", drip: "X-Slow: a\r\n", every: 100 * time.Millisecond},
		{name: "silent", n: 20},
		{name: "body a byte at a time", n: 20, open: "POST /healthz HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 100000\r\n\r\n", drip: "a", every: 100 * time.Millisecond},
		{name: "upgraded, then silent", n: silentUpgraded, open: upgrade},
	}

	type closed struct {
		kind  string
		after time.Duration
	}
	results := make(chan closed, 400)
	var open atomic.Int32
	var wg sync.WaitGroup
	for _, k := range kinds {
		for range k.n {
			nc, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			t.Cleanup(func() { nc.Close() })
			start := time.Now()
			if _, err := io.WriteString(nc, k.open); err != nil {
				t.Fatalf("%s: %v", k.name, err)
			}
			open.Add(1)
			gone := make(chan struct{})
			wg.Go(func() {
				// The socket reads nothing but what the server sends
				// until it closes, which is what is timed.
				_, _ = io.Copy(io.Discard, nc)
				close(gone)
				open.Add(-1)
				results <- closed{k.name, time.Since(start)}
			})
			if k.drip != "" {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-gone:
							return
						case <-time.After(k.every):
						}
						if _, err := nc.Write([]byte{k.drip[i%len(k.drip)]}); err != nil {
							return
						}
					}
				})
			}
		}
	}
	total := int32(0)
	for _, k := range kinds {
		total += int32(k.n)
	}

	// The silent upgraded sockets hold their places; the two left go to real
	// clients, which are served; pre-upgrade sockets hold none.
	waitUpgraded(t, ts, silentUpgraded)
	c1, c2 := ts.dial(t, nil), ts.dial(t, nil)
	c1.stillServes()
	c2.stillServes()
	if status, upgraded := ts.handshake(t, nil); upgraded || status != http.StatusServiceUnavailable {
		t.Errorf("a connection beyond MaxConnections: status %d upgraded %v, want 503", status, upgraded)
	}
	if n := open.Load(); n != total {
		t.Fatalf("only %d of %d slow sockets were still open during the checks: raise the timeout", n, total)
	}

	// Bounded by the timeout: give up well after it rather than hang.
	allClosed := make(chan struct{})
	go func() { wg.Wait(); close(allClosed) }()
	select {
	case <-allClosed:
	case <-time.After(timeout + 30*time.Second):
		t.Fatalf("%d of %d slow sockets still open %v after the timeout", open.Load(), total, 30*time.Second)
	}
	close(results)
	times := map[string][]time.Duration{}
	for r := range results {
		times[r.kind] = append(times[r.kind], r.after)
	}
	for _, k := range kinds {
		ds := times[k.name]
		if len(ds) != k.n {
			t.Errorf("%s: %d of %d closed", k.name, len(ds), k.n)
			continue
		}
		t.Logf("%s (%d): closed after %v to %v (p50 %v), timeout %v", k.name, k.n,
			slices.Min(ds).Round(time.Millisecond), slices.Max(ds).Round(time.Millisecond), percentile(ds, 50).Round(time.Millisecond), timeout)
		if slices.Min(ds) < timeout/2 {
			t.Errorf("%s: closed after %v, before the timeout", k.name, slices.Min(ds))
		}
	}
}

// waitUpgraded waits until the server counts n connections against
// MaxConnections.
func waitUpgraded(t *testing.T, ts *testServer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts.srv.mu.Lock()
		active := ts.srv.active
		ts.srv.mu.Unlock()
		if active == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections upgraded, want %d", active, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestHostileJSON sends frames within max_message_bytes that are built to
// hurt a parser. Nesting deeper than encoding/json's limit (10,000 levels;
// RFC 8259 section 9 lets a parser limit depth) makes the frame one the
// agent cannot parse, wherever the nesting is: PARSE_ERROR with id null.
// Within the limit the usual rules apply. Of duplicate members the last
// counts, as with JSON.parse in browsers. The connection keeps serving.
func TestHostileJSON(t *testing.T) {
	ts := startServer(t, Config{AllowNoOrigin: true}, emptyAgent(t))
	c := ts.dial(t, nil)
	nest := func(open, close, inner string, depth int) string {
		return strings.Repeat(open, depth) + inner + strings.Repeat(close, depth)
	}
	const deep, deepButParsed = 100_000, 5_000
	var manyKeys strings.Builder
	manyKeys.WriteString(`{"jsonrpc":"2.0","id":20,"method":"certs.list","params":{"token":"` + unknownToken + `"`)
	for i := range 200_000 {
		fmt.Fprintf(&manyKeys, `,"k%d":%d`, i, i)
	}
	manyKeys.WriteString("}}")
	long := strings.Repeat("a", 6<<20)
	tests := []struct {
		name   string
		frame  string
		code   int
		reason string
		id     string
	}{
		{"arrays too deep", nest("[", "]", "", deep), -32700, "PARSE_ERROR", "null"},
		{"objects too deep", nest(`{"a":`, "}", "1", deep), -32700, "PARSE_ERROR", "null"},
		{"params too deep", `{"jsonrpc":"2.0","id":1,"method":"certs.list","params":{"token":` + nest("[", "]", "", deep) + `}}`, -32700, "PARSE_ERROR", "null"},
		{"id too deep", `{"jsonrpc":"2.0","id":` + nest("[", "]", "", deep) + `,"method":"agent.info"}`, -32700, "PARSE_ERROR", "null"},

		{"deep arrays: a batch", nest("[", "]", "", deepButParsed), -32600, "INVALID_REQUEST", "null"},
		{"deep objects: not a request", nest(`{"a":`, "}", "1", deepButParsed), -32600, "INVALID_REQUEST", "null"},
		{"deep param", `{"jsonrpc":"2.0","id":2,"method":"certs.list","params":{"token":` + nest("[", "]", "", deepButParsed) + `}}`, -32602, "INVALID_PARAMS", "2"},
		{"deep unknown param is ignored", `{"jsonrpc":"2.0","id":3,"method":"certs.list","params":{"token":"` + unknownToken + `","x":` + nest(`{"a":`, "}", "1", deepButParsed) + `}}`, 1001, "TOKEN_NOT_FOUND", "3"},
		{"deep id", `{"jsonrpc":"2.0","id":` + nest("[", "]", "", deepButParsed) + `,"method":"agent.info"}`, -32600, "INVALID_REQUEST", "null"},

		{"200,000 params", manyKeys.String(), 1001, "TOKEN_NOT_FOUND", "20"},
		{"6 MiB token id", `{"jsonrpc":"2.0","id":21,"method":"certs.list","params":{"token":"` + long + `"}}`, -32602, "INVALID_PARAMS", "21"},
		{"6 MiB method name", `{"jsonrpc":"2.0","id":22,"method":"` + long + `"}`, -32601, "METHOD_NOT_FOUND", "22"},
		{"6 MiB id", `{"jsonrpc":"2.0","id":"` + long + `","method":"no.such"}`, -32601, "METHOD_NOT_FOUND", `"` + long + `"`},

		{"duplicate id: the last counts", `{"jsonrpc":"2.0","id":30,"id":"last","method":"no.such"}`, -32601, "METHOD_NOT_FOUND", `"last"`},
		{"duplicate param: the last counts", `{"jsonrpc":"2.0","id":31,"method":"certs.list","params":{"token":42,"token":"` + unknownToken + `"}}`, 1001, "TOKEN_NOT_FOUND", "31"},
		{"duplicate pin, the last well-typed", `{"jsonrpc":"2.0","id":32,"method":"sign","params":{"token":"` + unknownToken + `","cert":"01","data":"AA==","pin":1234,"pin":"1234"}}`, 1001, "TOKEN_NOT_FOUND", "32"},
		{"duplicate pin, the last ill-typed", `{"jsonrpc":"2.0","id":33,"method":"sign","params":{"token":"` + unknownToken + `","cert":"01","data":"AA==","pin":"1234","pin":1234}}`, -32602, "INVALID_PARAMS", "33"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.frameError(t, tt.frame, tt.code, tt.reason, tt.id)
			// What was sent is quoted in the message only in part.
			if n := len(r.Error.Message); n > maxMessageBytes+len("…") {
				t.Errorf("error message of %d bytes", n)
			}
			c.stillServes()
		})
	}
}
