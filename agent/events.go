package agent

import (
	"sync"
)

// DefaultEventQueue is how many events a subscriber may have waiting before
// it is dropped.
const DefaultEventQueue = 64

// Event is one notification for subscribers: exactly one field is set.
type Event struct {
	Tokens  *TokensChanged  // the token list changed
	Readers *ReadersChanged // the reader list or a card's presence changed
}

// TokensChanged is a change of the token list: tokens that appeared, the
// ids of those that went away, and tokens whose fields changed.
type TokensChanged struct {
	Added   []Token
	Removed []string
	Changed []Token
}

// ReadersChanged is the PC/SC readers after a change.
type ReadersChanged struct {
	Readers []string // reader names
	Cards   []Card   // one per reader
}

// Card is a reader and whether it holds a card.
type Card struct {
	Reader  string
	Present bool
	ATR     string // lowercase hex; empty when no card or a mute one
}

// Hub hands events to subscribers. Publish never blocks: each subscriber
// has a bounded queue, and one whose queue is full when an event comes is
// dropped. It is safe for concurrent use.
type Hub struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// NewHub returns a Hub without subscribers.
func NewHub() *Hub {
	return &Hub{subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's queue. Read events from Events until it
// is closed, which happens when the subscriber is dropped (Dropped tells),
// unsubscribes, or the hub closes.
type Subscription struct {
	hub     *Hub
	events  chan Event
	onDrop  func()
	dropped bool // set under hub.mu before events is closed
}

// Subscribe adds a subscriber with room for queue events (DefaultEventQueue
// when queue <= 0). onDrop, when not nil, is called once if the subscriber
// is dropped for falling behind; it is called from the publisher, so it must
// return at once and not call into the hub.
func (h *Hub) Subscribe(queue int, onDrop func()) *Subscription {
	if queue <= 0 {
		queue = DefaultEventQueue
	}
	s := &Subscription{hub: h, events: make(chan Event, queue), onDrop: onDrop}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(s.events)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

// Events returns the subscriber's queue; it is closed when the subscription
// ends.
func (s *Subscription) Events() <-chan Event { return s.events }

// Dropped tells whether the subscription ended because its queue
// overflowed. It is meaningful once Events is closed.
func (s *Subscription) Dropped() bool {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.dropped
}

// Close ends the subscription. Calling it again does nothing.
func (s *Subscription) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.events)
	}
}

// Publish queues ev for every subscriber without waiting: a subscriber whose
// queue is full is dropped.
func (h *Hub) Publish(ev Event) {
	var drops []func()
	h.mu.Lock()
	for s := range h.subs {
		select {
		case s.events <- ev:
		default:
			delete(h.subs, s)
			s.dropped = true
			close(s.events)
			if s.onDrop != nil {
				drops = append(drops, s.onDrop)
			}
		}
	}
	h.mu.Unlock()
	for _, f := range drops {
		f()
	}
}

// Subscribers returns how many subscribers the hub has.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Close ends every subscription; later ones end at once.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		delete(h.subs, s)
		close(s.events)
	}
}
