package ws

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/gorilla/websocket"

	"github.com/tokenagent/tokenagent/agent"
)

// eventQueue is how many events may wait for one connection before it is
// dropped as too slow.
const eventQueue = agent.DefaultEventQueue

// overflowReason is the close reason of a connection dropped for falling
// behind on events; the code is 1008 (policy violation).
const overflowReason = "event queue overflow"

// eventsState is a connection's events subscription: made once, by the
// first events.subscribe.
type eventsState struct {
	once sync.Once
}

func (s *Server) eventsSubscribe(ctx context.Context, c *conn, params json.RawMessage) (any, error) {
	if _, err := readParams(params); err != nil {
		return nil, err
	}
	c.events.once.Do(func() { c.subscribe(ctx) })
	return subscribedWire{Subscribed: true}, nil
}

type subscribedWire struct {
	Subscribed bool `json:"subscribed"`
}

// subscribe subscribes the connection to the agent's events and forwards
// them, as notifications through the writer, until the connection closes.
// A connection that falls eventQueue events behind is closed with 1008.
// It runs within a request, whose count keeps serve waiting for the
// forwarder too.
func (c *conn) subscribe(ctx context.Context) {
	sub := c.s.agent.Subscribe(ctx, eventQueue, func() {
		// Called by the publisher: only start the close, never wait.
		c.log.Info("closing connection", "reason", overflowReason, "queue", eventQueue)
		c.close(websocket.ClosePolicyViolation, overflowReason)
	})
	c.reqs.Add(1)
	go func() {
		defer c.reqs.Done()
		defer sub.Close()
		c.forward(sub)
	}()
}

// forward sends the subscription's events until it or the connection ends.
func (c *conn) forward(sub *agent.Subscription) {
	for {
		select {
		case <-c.closing:
			return
		case ev, ok := <-sub.Events():
			if !ok {
				return // dropped (the connection is closing then) or the agent stopped
			}
			frame, err := encode(notificationWire{JSONRPC: "2.0", Method: eventMethod(ev), Params: eventParams(ev)})
			if err != nil {
				c.log.Error("encoding event", "method", eventMethod(ev), "err", err)
				continue
			}
			c.sendFrame(frame)
		}
	}
}

// notificationWire is a JSON-RPC notification: a request without id.
type notificationWire struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type tokensChangedWire struct {
	Added   []tokenWire `json:"added"`
	Removed []string    `json:"removed"`
	Changed []tokenWire `json:"changed"`
}

type readersChangedWire struct {
	Readers []string   `json:"readers"`
	Cards   []cardWire `json:"cards"`
}

type cardWire struct {
	Reader  string  `json:"reader"`
	Present bool    `json:"present"`
	ATR     *string `json:"atr"`
}

// eventMethod returns the notification method of an event.
func eventMethod(ev agent.Event) string {
	if ev.Readers != nil {
		return "readers.changed"
	}
	return "tokens.changed"
}

// eventParams returns the wire shape of an event's params.
func eventParams(ev agent.Event) any {
	if r := ev.Readers; r != nil {
		out := readersChangedWire{Readers: nonNil(r.Readers), Cards: make([]cardWire, len(r.Cards))}
		for i, c := range r.Cards {
			out.Cards[i] = cardWire{Reader: c.Reader, Present: c.Present, ATR: nullable(c.ATR)}
		}
		return out
	}
	t := ev.Tokens
	if t == nil {
		t = &agent.TokensChanged{}
	}
	return tokensChangedWire{
		Added:   toTokens(t.Added).Tokens,
		Removed: nonNil(t.Removed),
		Changed: toTokens(t.Changed).Tokens,
	}
}

// cardStatusWire is an agent.info pcsc.cards entry (an extension).
type cardStatusWire struct {
	Reader          string  `json:"reader"`
	ATR             *string `json:"atr"`
	Card            *string `json:"card"`
	Vendor          *string `json:"vendor"`
	Module          *string `json:"module"`
	ModuleInstalled bool    `json:"moduleInstalled"`
	ModuleLoaded    bool    `json:"moduleLoaded"`
	Note            *string `json:"note"`
}

func toCardStatuses(cs []agent.CardStatus) []cardStatusWire {
	if len(cs) == 0 {
		return nil
	}
	out := make([]cardStatusWire, len(cs))
	for i, c := range cs {
		out[i] = cardStatusWire{
			Reader:          c.Reader,
			ATR:             nullable(c.ATR),
			Card:            nullable(c.Card),
			Vendor:          nullable(c.Vendor),
			Module:          nullable(c.Module),
			ModuleInstalled: c.ModuleInstalled,
			ModuleLoaded:    c.ModuleLoaded,
			Note:            nullable(c.Note),
		}
	}
	return out
}
