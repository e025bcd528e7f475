package loadtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenID asks the agent for the bench token's id.
func tokenID(t *testing.T, c *wsClient) string {
	t.Helper()
	res, err := c.call("tokens.list", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Tokens []struct{ ID, Label string } }
	if err := json.Unmarshal(res, &list); err != nil {
		t.Fatal(err)
	}
	for _, tok := range list.Tokens {
		if tok.Label == "bench" {
			return tok.ID
		}
	}
	t.Fatalf("no bench token in %s", res)
	return ""
}

// TestIdle measures the agent doing nothing on one SoftHSM token, RSS and
// CPU per second over 30 s after 5 s to settle: first with no page open,
// then with one page subscribed to events (the agent polls the tokens every
// second for it).
func TestIdle(t *testing.T) {
	skipUnlessLoad(t)
	p := startAgent(t, benchToken(t), 256)
	// One page's worth of calls first, so that what is measured is an agent
	// that has served something, not one fresh from exec.
	c, err := dialAgent(context.Background(), p.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenID(t, c)
	if _, err := c.call("certs.list", map[string]any{"token": tok}); err != nil {
		t.Fatal(err)
	}
	c.close()
	const window = 30 * time.Second
	measure := func(what string) {
		time.Sleep(5 * time.Second)
		before := p.usage(t)
		time.Sleep(window)
		after := p.usage(t)
		perSecond := float64(after.onCPU-before.onCPU) / float64(time.Millisecond) / window.Seconds()
		t.Logf("idle agent, one SoftHSM token, %s, over %s: CPU %.3f ms/s (target < 1 ms/s); "+
			"RSS %s (anon %s, file-backed %s; target < 20 MB), %d threads, %d fds",
			what, window, perSecond, mb(after.rssKB), mb(after.anonKB), mb(after.fileKB), after.threads, after.fds)
	}
	measure("no page open")

	c, err = dialAgent(context.Background(), p.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	if _, err := c.call("events.subscribe", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	measure("one page subscribed to events")
}

// TestConnections opens 1,000 connections and has each call tokens.list
// and certs.list: all at once (a burst), paced at one pair per second per
// connection (an open load of 2,000 calls/s), and back to back (the most
// the agent serves; latency there is queueing, by Little's law).
func TestConnections(t *testing.T) {
	skipUnlessLoad(t)
	const conns = 1000
	p := startAgent(t, benchToken(t), conns+10)
	ctx := context.Background()

	start := time.Now()
	clients := make([]*wsClient, conns)
	var wg sync.WaitGroup
	dialErrs := make(chan error, conns)
	sem := make(chan struct{}, 50)
	for i := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := dialAgent(ctx, p.addr, "https://portal.example")
			if err != nil {
				dialErrs <- err
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(dialErrs)
	for err := range dialErrs {
		t.Fatalf("dial: %v", err)
	}
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	connectTime := time.Since(start)
	tok := tokenID(t, clients[0])
	open := p.usage(t)

	// each runs fn on every connection at once and tallies the calls.
	each := func(fn func(i int, c *wsClient, tl *tally)) (*tally, time.Duration) {
		tl := newTally()
		start := time.Now()
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(i, c, tl)
			}()
		}
		wg.Wait()
		return tl, time.Since(start)
	}
	pair := func(c *wsClient, tl *tally) {
		_, _ = tl.timed(c, "tokens.list", map[string]any{})
		_, _ = tl.timed(c, "certs.list", map[string]any{"token": tok})
	}

	var report strings.Builder
	fmt.Fprintf(&report, "\n%d connections opened in %s (50 dialling at a time); agent RSS with them open %s, %d fds, %d threads\n",
		conns, connectTime.Round(time.Millisecond), mb(open.rssKB), open.fds, open.threads)
	fmt.Fprintf(&report, "%-38s %-12s %8s %10s %10s %10s %8s\n", "phase", "method", "calls", "calls/s", "median", "p99", "errors")
	row := func(phase string, tl *tally, took time.Duration) {
		for _, method := range []string{"tokens.list", "certs.list"} {
			d := tl.latencies[method]
			if len(d) == 0 {
				continue
			}
			s := summarize(d)
			fmt.Fprintf(&report, "%-38s %-12s %8d %10.0f %10s %10s %8d\n", phase, method, len(d),
				float64(len(d))/took.Seconds(), ms(s.median), ms(s.p99), errorsFor(tl, method))
		}
		for what, n := range tl.errors {
			t.Errorf("%s: %d× %s", phase, n, what)
		}
	}

	// Burst: every connection sends its pair at the same moment.
	gate := make(chan struct{})
	go func() { time.Sleep(100 * time.Millisecond); close(gate) }()
	tl, took := each(func(_ int, c *wsClient, tl *tally) { <-gate; pair(c, tl) })
	row("burst: all 1000 at once", tl, took-100*time.Millisecond)

	// Paced: one pair per connection per second, phases spread.
	const pacedFor = 20 * time.Second
	tl, took = each(func(i int, c *wsClient, tl *tally) {
		next := time.Now().Add(time.Duration(i) * time.Second / conns)
		for end := time.Now().Add(pacedFor); next.Before(end); next = next.Add(time.Second) {
			time.Sleep(time.Until(next))
			pair(c, tl)
		}
	})
	row(fmt.Sprintf("paced: 1 pair/s each for %s", pacedFor), tl, took)

	// Back to back: as fast as the agent answers.
	const closedFor = 10 * time.Second
	tl, took = each(func(_ int, c *wsClient, tl *tally) {
		for end := time.Now().Add(closedFor); time.Now().Before(end); {
			pair(c, tl)
		}
	})
	row(fmt.Sprintf("back to back for %s", closedFor), tl, took)
	after := p.usage(t)
	fmt.Fprintf(&report, "agent CPU over the three phases: %s; RSS after %s", (after.cpu - open.cpu).Round(time.Millisecond), mb(after.rssKB))
	t.Log(report.String())
}

func errorsFor(tl *tally, method string) int {
	n := 0
	for what, count := range tl.errors {
		if strings.HasPrefix(what, method+":") {
			n += count
		}
	}
	return n
}

// TestSoak runs mixed calls for TOKENAGENT_SOAK (default 1 minute; make
// bench says 10m) and samples the agent's RSS, fds and threads every 5 s:
// reads, signing, key generation and deletion, connection churn, an events
// subscriber, wrong PINs from another origin, and a token made and deleted
// by another process every 30 s.
func TestSoak(t *testing.T) {
	skipUnlessLoad(t)
	duration := time.Minute
	if s := os.Getenv("TOKENAGENT_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("TOKENAGENT_SOAK: %v", err)
		}
		duration = d
	}
	env := benchToken(t)
	p := startAgent(t, env, 256)
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()

	first, err := dialAgent(ctx, p.addr, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := tokenID(t, first)
	first.close()
	data := base64.StdEncoding.EncodeToString([]byte("a document to sign"))
	items := make([]map[string]any, 10)
	for i := range items {
		items[i] = map[string]any{"data": data}
	}
	signParams := map[string]any{"token": tok, "pin": userPIN, "cert": "01", "data": data}
	reads := []struct {
		method string
		params map[string]any
	}{
		{"agent.info", map[string]any{}},
		{"tokens.list", map[string]any{}},
		{"certs.list", map[string]any{"token": tok}},
		{"lifetime.check", map[string]any{"token": tok}},
		{"media.check", map[string]any{"token": tok}},
		{"sign", signParams},
		{"sign", map[string]any{"token": tok, "pin": userPIN, "cert": "01", "data": data, "format": "cms"}},
		{"sign.batch", map[string]any{"token": tok, "pin": userPIN, "cert": "01", "items": items}},
	}

	tl := newTally()
	var wg sync.WaitGroup
	worker := func(origin string, fn func(c *wsClient) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				c, err := dialAgent(ctx, p.addr, origin)
				if err != nil {
					if ctx.Err() == nil {
						tl.add("dial", 0, err)
					}
					return
				}
				// Each connection serves a while, then a new one replaces
				// it: pages come and go.
				for i := 0; i < 200 && ctx.Err() == nil; i++ {
					if err := fn(c); err != nil {
						break
					}
				}
				c.close()
			}
		}()
	}
	for range 6 {
		worker("https://portal.example", func(c *wsClient) error {
			r := reads[rand.IntN(len(reads))]
			_, err := tl.timed(c, r.method, r.params)
			return transportError(err)
		})
	}
	// Writes: a key made and deleted, as renewals do.
	worker("", func(c *wsClient) error {
		res, err := tl.timed(c, "keys.generate", map[string]any{"token": tok, "pin": userPIN, "algorithm": "EC-P256"})
		if err != nil {
			return transportError(err)
		}
		var key struct{ Key string }
		_ = json.Unmarshal(res, &key)
		_, err = tl.timed(c, "objects.delete", map[string]any{"token": tok, "pin": userPIN, "id": key.Key, "what": "key"})
		return transportError(err)
	})
	// A page guessing PINs: throttled after three, as the contract says.
	worker("http://localhost:8080", func(c *wsClient) error {
		time.Sleep(100 * time.Millisecond)
		_, err := c.call("sign", map[string]any{"token": tok, "pin": "0000", "cert": "01", "data": data})
		if re, ok := err.(*rpcError); ok && (re.Data.Reason == "PIN_INCORRECT" || re.Data.Reason == "RATE_LIMITED") {
			tl.add("sign (wrong PIN)", 0, nil)
			return nil
		}
		tl.add("sign (wrong PIN)", 0, err)
		return transportError(err)
	})
	// An events subscriber, and tokens made and deleted behind the agent.
	events := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := dialAgent(ctx, p.addr, "")
		if err != nil {
			t.Error(err)
			return
		}
		defer c.close()
		if _, err := c.call("events.subscribe", map[string]any{}); err != nil {
			t.Error(err)
			return
		}
		go func() { <-ctx.Done(); c.close() }()
		for {
			if _, _, err := c.conn.ReadMessage(); err != nil {
				return
			}
			events++
		}
	}()
	// softhsm2-util itself sometimes fails to read a token the agent is
	// writing at that moment; such a failure is counted and tried again.
	var churn struct{ made, deleted, failed int }
	wg.Add(1)
	go func() {
		defer wg.Done()
		made := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(15 * time.Second):
			}
			var err error
			if made {
				err = env.DeleteToken("churn")
			} else {
				err = env.InitToken("churn", "12345678", userPIN)
			}
			switch {
			case err != nil:
				churn.failed++
			case made:
				churn.deleted++
				made = false
			default:
				churn.made++
				made = true
			}
		}
	}()

	type sample struct {
		at time.Duration
		u  usage
	}
	var samples []sample
	begin := time.Now()
	for ctx.Err() == nil {
		samples = append(samples, sample{time.Since(begin), p.usage(t)})
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	wg.Wait()
	end := p.usage(t)

	// Steady means: the mean RSS of the last fifth of the run is within 10%
	// of the mean of the second fifth (the first is warm-up).
	fifth := len(samples) / 5
	if fifth == 0 {
		t.Fatalf("run too short for a trend: %d samples", len(samples))
	}
	meanRSS := func(s []sample) float64 {
		sum := 0
		for _, x := range s {
			sum += x.u.rssKB
		}
		return float64(sum) / float64(len(s))
	}
	early, late := meanRSS(samples[fifth:2*fifth]), meanRSS(samples[len(samples)-fifth:])
	growth := (late - early) / early * 100
	var report strings.Builder
	fmt.Fprintf(&report, "\nsoak: %s of mixed calls, %d calls (%.0f/s); tokens made and deleted by softhsm2-util %d and %d times (%d tries failed in softhsm2-util); %d events received\n",
		duration, tl.calls(), float64(tl.calls())/duration.Seconds(), churn.made, churn.deleted, churn.failed, events)
	methods := make([]string, 0, len(tl.latencies))
	for m := range tl.latencies {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	for _, m := range methods {
		if strings.HasSuffix(m, "(wrong PIN)") {
			fmt.Fprintf(&report, "  %-20s %7d answered PIN_INCORRECT or RATE_LIMITED\n", m, len(tl.latencies[m]))
			continue
		}
		s := summarize(tl.latencies[m])
		fmt.Fprintf(&report, "  %-20s %7d calls  median %s  p99 %s\n", m, len(tl.latencies[m]), ms(s.median), ms(s.p99))
	}
	lowest, highest := samples[0].u.rssKB, samples[0].u.rssKB
	for _, s := range samples {
		lowest, highest = min(lowest, s.u.rssKB), max(highest, s.u.rssKB)
	}
	fmt.Fprintf(&report, "  RSS: second fifth %.1f MB, last fifth %.1f MB: %+.1f%% (limit +10%%); lowest %s, highest %s\n",
		early/1024, late/1024, growth, mb(lowest), mb(highest))
	fmt.Fprintf(&report, "  fds %d → %d, threads %d → %d, CPU %s", samples[0].u.fds, end.fds, samples[0].u.threads, end.threads, (end.cpu - samples[0].u.cpu).Round(time.Millisecond))
	t.Log(report.String())
	for what, n := range tl.errors {
		t.Errorf("%d× %s", n, what)
	}
	if growth > 10 {
		t.Errorf("RSS grew %.1f%% over the soak", growth)
	}
}

// transportError keeps what ends a connection: a JSON-RPC error answers one
// call and the connection goes on.
func transportError(err error) error {
	if _, ok := err.(*rpcError); ok {
		return nil
	}
	return err
}
