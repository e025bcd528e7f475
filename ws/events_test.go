package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/agent"
	"github.com/tokenagent/tokenagent/internal/pcsctest"
	"github.com/tokenagent/tokenagent/internal/softhsm"
	"github.com/tokenagent/tokenagent/token"
)

// eventWithin is how soon after a change becomes observable its event must
// arrive (PROTOCOL.md, events.subscribe).
const eventWithin = 2 * time.Second

// runAgent runs a's watcher until the test ends.
func runAgent(t *testing.T, a *agent.Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// message is a frame from the agent: a response or a notification.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	raw    []byte
	at     time.Time
}

// listener reads every frame of a client on a goroutine of its own.
type listener struct {
	t    *testing.T
	c    *client
	msgs chan message
	done chan error // the read error that ended the listener
}

func listen(t *testing.T, c *client) *listener {
	l := &listener{t: t, c: c, msgs: make(chan message, 1024), done: make(chan error, 1)}
	go func() {
		for {
			_, frame, err := c.ws.ReadMessage()
			if err != nil {
				l.done <- err
				close(l.msgs)
				return
			}
			var m message
			if err := json.Unmarshal(frame, &m); err != nil {
				l.done <- fmt.Errorf("frame %s: %w", frame, err)
				close(l.msgs)
				return
			}
			m.raw, m.at = frame, time.Now()
			l.msgs <- m
		}
	}()
	return l
}

// subscribe calls events.subscribe and checks its result; notifications
// that come before the response are dropped.
func (l *listener) subscribe() {
	l.t.Helper()
	l.c.nextID++
	l.c.sendRaw(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"events.subscribe","params":{}}`, l.c.nextID))
	m := l.next(10*time.Second, func(m message) bool { return string(m.ID) == fmt.Sprint(l.c.nextID) })
	if string(m.Result) != `{"subscribed":true}` {
		l.t.Fatalf("events.subscribe: %s", m.raw)
	}
}

// next returns the first message within d that match accepts, skipping the
// others.
func (l *listener) next(d time.Duration, match func(message) bool) message {
	l.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-l.msgs:
			if !ok {
				l.t.Fatalf("connection ended: %v", <-l.done)
			}
			if match(m) {
				return m
			}
		case <-timer.C:
			l.t.Fatalf("no matching message within %v", d)
		}
	}
}

// tokensChanged is a tokens.changed notification's params as tests read
// them.
type tokensChanged struct {
	Added   []map[string]any `json:"added"`
	Removed []string         `json:"removed"`
	Changed []map[string]any `json:"changed"`
}

// waitTokens returns the first tokens.changed within d that match accepts.
func (l *listener) waitTokens(d time.Duration, match func(tokensChanged) bool) (tokensChanged, message) {
	l.t.Helper()
	var got tokensChanged
	m := l.next(d, func(m message) bool {
		if m.Method != "tokens.changed" {
			return false
		}
		var p tokensChanged
		if err := json.Unmarshal(m.Params, &p); err != nil {
			l.t.Fatalf("tokens.changed %s: %v", m.raw, err)
		}
		if match(p) {
			got = p
			return true
		}
		return false
	})
	return got, m
}

// wantEnvelope checks a notification's envelope: no id, version 2.0.
func wantNotification(t *testing.T, m message, method string) {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(m.raw, &members); err != nil {
		t.Fatal(err)
	}
	if _, ok := members["id"]; ok || string(members["jsonrpc"]) != `"2.0"` || m.Method != method {
		t.Errorf("notification %s: want jsonrpc 2.0, method %s, no id", m.raw, method)
	}
	keys(t, "notification", mapOf(t, m.raw), "jsonrpc", "method", "params")
}

func mapOf(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func hasLabel(tokens []map[string]any, label string) map[string]any {
	for _, tok := range tokens {
		if tok["label"] == label {
			return tok
		}
	}
	return nil
}

// TestEventsSoftHSMTokens creates and deletes SoftHSM tokens with
// softhsm2-util while the agent runs, and fails a PIN: a subscribed client
// gets tokens.changed for each within 2 s.
func TestEventsSoftHSMTokens(t *testing.T) {
	env := softhsm.New(t)
	ca, err := softhsm.NewCA("Events CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken("base", "so-pin-1", "user-pin-1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.AddKeyAndCert("base", "user-pin-1", ca, softhsm.CertSpec{ID: []byte{0x01}, Label: "base-sign"}); err != nil {
		t.Fatal(err)
	}
	m := token.NewManager([]string{env.Module}, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	a := agent.New(m, agent.Options{Version: "1.2.3", PollInterval: 200 * time.Millisecond})
	runAgent(t, a)
	ts := startServer(t, Config{AllowNoOrigin: true}, a)
	c := ts.dial(t, nil)
	l := listen(t, c)
	l.subscribe() // answered once the tokens are listed as the baseline: what is there already is no event
	l.subscribe() // twice is fine

	// Added.
	if err := env.InitToken("hot", "so-pin-2", "user-pin-2"); err != nil {
		t.Fatal(err)
	}
	made := time.Now()
	added, msg := l.waitTokens(eventWithin, func(p tokensChanged) bool { return hasLabel(p.Added, "hot") != nil })
	t.Logf("added after %v", msg.at.Sub(made))
	wantNotification(t, msg, "tokens.changed")
	keys(t, "params", mapOf(t, msg.raw)["params"], "added", "removed", "changed")
	hot := keys(t, "added token", hasLabel(added.Added, "hot"), "id", "label", "manufacturer", "model",
		"serial", "module", "slot", "reader", "atr", "pin", "media", "readOnly")
	hotID, _ := hot["id"].(string)
	if hotID == "" || added.Removed == nil || added.Changed == nil {
		t.Fatalf("added event %s: want an id, removed and changed as arrays", msg.raw)
	}
	if hasLabel(added.Added, "base") != nil {
		t.Errorf("base reported added again: %s", msg.raw)
	}
	// The new token is usable through the socket.
	if got := c.listTokens(l); !got[hotID] {
		t.Errorf("tokens.list after the event lacks %s", hotID)
	}

	// A wrong PIN: the flags change.
	baseID := ""
	for id, label := range c.tokenLabels(l) {
		if label == "base" {
			baseID = id
		}
	}
	c.nextID++
	c.sendRaw(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"sign","params":{"token":%q,"pin":"wrong-pin","cert":"01","data":"eA=="}}`, c.nextID, baseID))
	resp := l.next(10*time.Second, func(m message) bool { return string(m.ID) == fmt.Sprint(c.nextID) })
	if !strings.Contains(string(resp.Error), "PIN_INCORRECT") {
		t.Fatalf("sign with a wrong PIN: %s", resp.raw)
	}
	failed := time.Now()
	changed, msg := l.waitTokens(eventWithin, func(p tokensChanged) bool {
		tok := hasLabel(p.Changed, "base")
		return tok != nil && tok["pin"].(map[string]any)["countLow"] == true
	})
	t.Logf("changed after %v", msg.at.Sub(failed))
	if len(changed.Added) != 0 || len(changed.Removed) != 0 {
		t.Errorf("pin event %s: only the change expected", msg.raw)
	}

	// Removed.
	if err := env.DeleteToken("hot"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	removed, msg := l.waitTokens(eventWithin, func(p tokensChanged) bool {
		for _, id := range p.Removed {
			if id == hotID {
				return true
			}
		}
		return false
	})
	t.Logf("removed after %v", msg.at.Sub(deleted))
	if len(removed.Added) != 0 || hasLabel(removed.Changed, "base") != nil {
		t.Errorf("removal event %s: base must not come and go", msg.raw)
	}
}

// listTokens calls tokens.list through l and returns the ids.
func (c *client) listTokens(l *listener) map[string]bool {
	out := map[string]bool{}
	for id := range c.tokenLabels(l) {
		out[id] = true
	}
	return out
}

// tokenLabels calls tokens.list through l and returns label by id.
func (c *client) tokenLabels(l *listener) map[string]string {
	c.t.Helper()
	c.nextID++
	c.sendRaw(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tokens.list"}`, c.nextID))
	m := l.next(10*time.Second, func(m message) bool { return string(m.ID) == fmt.Sprint(c.nextID) })
	var r struct {
		Tokens []struct{ ID, Label string }
	}
	if err := json.Unmarshal(m.Result, &r); err != nil {
		c.t.Fatalf("tokens.list %s: %v", m.raw, err)
	}
	out := map[string]string{}
	for _, tok := range r.Tokens {
		out[tok.ID] = tok.Label
	}
	return out
}

// bigReaderState is a reader state whose readers.changed event is large,
// so that a peer that does not read fills the socket buffers quickly. The
// last reader's name carries n.
func bigReaderState(n int) token.ReaderState {
	st := token.ReaderState{Available: true}
	pad := strings.Repeat("x", 100)
	for i := range 500 {
		st.Readers = append(st.Readers, token.Reader{Name: fmt.Sprintf("reader %03d %s", i, pad), Present: true, ATR: []byte{0x3b, byte(i)}})
	}
	st.Readers = append(st.Readers, token.Reader{Name: fmt.Sprintf("marker %d", n)})
	return st
}

// TestEventsSlowSubscriber publishes events while one subscriber never
// reads: the other still gets each within 2 s, publishing never waits, and
// the slow one is dropped and closed with 1008.
func TestEventsSlowSubscriber(t *testing.T) {
	a := emptyAgent(t)
	ts := startServer(t, Config{AllowNoOrigin: true}, a)
	slow := ts.dial(t, nil)
	slow.result("events.subscribe", map[string]any{})
	fast := ts.dial(t, nil)
	l := listen(t, fast)
	l.subscribe()
	if n := a.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers, want 2", n)
	}

	var slowest time.Duration
	n := 0
	for ; n < 5000 && a.Subscribers() == 2; n++ {
		start := time.Now()
		a.ReadersChanged(bigReaderState(n))
		// Blocking on the slow subscriber would block for good, since it
		// never reads: a generous bound tells the two apart on a loaded
		// machine.
		if d := time.Since(start); d > eventWithin {
			t.Fatalf("publishing event %d took %v", n, d)
		}
		marker := fmt.Sprintf(`"marker %d"`, n)
		m := l.next(eventWithin, func(m message) bool {
			return m.Method == "readers.changed" && strings.Contains(string(m.Params), marker)
		})
		slowest = max(slowest, m.at.Sub(start))
	}
	if a.Subscribers() != 1 {
		t.Fatalf("after %d events the slow subscriber is still there", n)
	}
	t.Logf("slow subscriber dropped after %d events; the other got each within %v", n, slowest)
	// The other one goes on getting events.
	a.ReadersChanged(bigReaderState(-1))
	l.next(eventWithin, func(m message) bool { return strings.Contains(string(m.Params), `"marker -1"`) })

	// Once it reads, the slow one finds the connection closed with 1008.
	slow.t = t
	if code := slow.closeCode(30 * time.Second); code != websocket.ClosePolicyViolation {
		t.Errorf("slow subscriber closed with %d, want %d", code, websocket.ClosePolicyViolation)
	}
	if !strings.Contains(ts.logs.String(), overflowReason) {
		t.Errorf("log does not say %q", overflowReason)
	}
}

// TestEventsUnsubscribeOnClose checks that a closed connection's
// subscription ends.
func TestEventsUnsubscribeOnClose(t *testing.T) {
	a := emptyAgent(t)
	ts := startServer(t, Config{AllowNoOrigin: true}, a)
	c := ts.dial(t, nil)
	c.result("events.subscribe", map[string]any{})
	c.result("events.subscribe", nil)
	if n := a.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers after subscribing twice, want 1", n)
	}
	_ = c.ws.Close()
	deadline := time.Now().Add(5 * time.Second)
	for a.Subscribers() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := a.Subscribers(); n != 0 {
		t.Errorf("%d subscribers after the connection closed, want 0", n)
	}
}

// TestEventsPCSC follows the vicc card through the socket: readers.changed
// on removal and insertion, with presence and ATR, and agent.info listing
// the readers and explaining the card.
func TestEventsPCSC(t *testing.T) {
	d := pcsctest.StartPCSCD(t)
	card := pcsctest.StartCard(t, d)
	w := token.WatchPCSC(slog.New(slog.DiscardHandler), nil) // the agent's Run subscribes
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("closing the watcher: %v", err)
		}
	})
	m := token.NewManager(nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { _ = m.Close() })
	a := agent.New(m, agent.Options{Version: "1.2.3", Readers: w, PollInterval: 200 * time.Millisecond})
	runAgent(t, a)
	ts := startServer(t, Config{AllowNoOrigin: true}, a)
	c := ts.dial(t, nil)

	// agent.info, before subscribing (c.result reads responses only).
	var info map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		info = c.result("agent.info", map[string]any{})
		pcsc := info["pcsc"].(map[string]any)
		if cards, _ := pcsc["cards"].([]any); len(cards) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	pcsc := keys(t, "pcsc", info["pcsc"], "available", "readers", "error", "cards")
	if pcsc["available"] != true || !containsString(pcsc["readers"], pcsctest.Reader) {
		t.Errorf("agent.info pcsc %v: want available with %q", pcsc, pcsctest.Reader)
	}
	cards, _ := pcsc["cards"].([]any)
	if len(cards) != 1 {
		t.Fatalf("pcsc.cards %v: want the vicc card", pcsc["cards"])
	}
	cs := keys(t, "card", cards[0], "reader", "atr", "card", "vendor", "module", "moduleInstalled", "moduleLoaded", "note")
	if cs["reader"] != pcsctest.Reader || cs["atr"] != pcsctest.ATR || cs["vendor"] != nil || cs["note"] == nil {
		t.Errorf("pcsc.cards[0] = %v: want the vicc card, unknown, with a note", cs)
	}

	l := listen(t, c)
	l.subscribe()

	card.Remove(t)
	removed := time.Now()
	msg := l.next(eventWithin+time.Second, func(m message) bool {
		return m.Method == "readers.changed" && cardState(t, m, pcsctest.Reader) == "absent"
	})
	// vicc's exit reaches pcscd through vpcd's polling (under 0.5 s).
	t.Logf("removal event after %v", msg.at.Sub(removed))
	wantNotification(t, msg, "readers.changed")
	p := keys(t, "params", mapOf(t, msg.raw)["params"], "readers", "cards")
	if !containsString(p["readers"], pcsctest.Reader) || !containsString(p["readers"], pcsctest.SecondReader) {
		t.Errorf("readers.changed %s: want both vpcd readers", msg.raw)
	}

	card.Insert(t)
	inserted := time.Now()
	msg = l.next(eventWithin+time.Second, func(m message) bool {
		return m.Method == "readers.changed" && cardState(t, m, pcsctest.Reader) == pcsctest.ATR
	})
	t.Logf("insertion event after %v", msg.at.Sub(inserted))
}

// cardState returns a readers.changed card's state for reader: its ATR when
// present, "absent" when not, "" when the reader is not there.
func cardState(t *testing.T, m message, reader string) string {
	t.Helper()
	var p struct {
		Cards []struct {
			Reader  string  `json:"reader"`
			Present bool    `json:"present"`
			ATR     *string `json:"atr"`
		} `json:"cards"`
	}
	if err := json.Unmarshal(m.Params, &p); err != nil {
		t.Fatalf("readers.changed %s: %v", m.raw, err)
	}
	for _, c := range p.Cards {
		if c.Reader != reader {
			continue
		}
		switch {
		case !c.Present && c.ATR == nil:
			return "absent"
		case c.Present && c.ATR != nil:
			return *c.ATR
		default:
			t.Errorf("readers.changed %s: presence and ATR disagree", m.raw)
		}
	}
	return ""
}

func containsString(list any, s string) bool {
	items, _ := list.([]any)
	for _, it := range items {
		if it == s {
			return true
		}
	}
	return false
}
