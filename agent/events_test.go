package agent

import (
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func tokensEvent(id string) Event {
	return Event{Tokens: &TokensChanged{Removed: []string{id}}}
}

// TestHubPublisherNeverBlocks publishes far more than a queue holds to a
// subscriber that never reads: Publish must return at once every time, the
// slow subscriber must be dropped (once), and a subscriber that keeps up
// must get every event.
func TestHubPublisherNeverBlocks(t *testing.T) {
	synctest.Test(t, hubPublisherNeverBlocks)
}

func hubPublisherNeverBlocks(t *testing.T) {
	h := NewHub()
	var drops atomic.Int32
	slow := h.Subscribe(4, func() { drops.Add(1) })
	fast := h.Subscribe(4, func() { t.Error("the reading subscriber was dropped") })

	const n = 1000
	got := make(chan int)
	go func() {
		count := 0
		for range fast.Events() {
			count++
		}
		got <- count
	}()
	for i := range n {
		h.Publish(tokensEvent("x"))
		if i%4 == 3 {
			synctest.Wait() // the fast reader keeps up: its queue holds only 4
		}
	}
	if drops.Load() != 1 {
		t.Errorf("slow subscriber dropped %d times, want 1", drops.Load())
	}
	if !slow.Dropped() {
		t.Error("slow subscriber: Dropped() = false")
	}
	// The slow one's queue holds what came before the overflow, then ends.
	queued := 0
	for range slow.Events() {
		queued++
	}
	if queued != 4 {
		t.Errorf("slow subscriber had %d events queued, want 4", queued)
	}
	if h.Subscribers() != 1 {
		t.Errorf("Subscribers() = %d, want 1", h.Subscribers())
	}
	fast.Close()
	if c := <-got; c != n {
		t.Errorf("fast subscriber got %d events, want %d", c, n)
	}
	if fast.Dropped() {
		t.Error("fast subscriber: Dropped() = true after Close")
	}
}

// TestHubPublishWithStuckSubscribers checks that Publish does not wait for
// subscribers that never read, however many.
func TestHubPublishWithStuckSubscribers(t *testing.T) {
	h := NewHub()
	for range 100 {
		h.Subscribe(1, nil)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10000 {
			h.Publish(tokensEvent("x"))
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked")
	}
	if h.Subscribers() != 0 {
		t.Errorf("Subscribers() = %d, want 0: all overflowed", h.Subscribers())
	}
}

func TestSubscriptionClose(t *testing.T) {
	h := NewHub()
	s := h.Subscribe(0, func() { t.Error("dropped") })
	if cap(s.events) != DefaultEventQueue {
		t.Errorf("queue %d, want %d", cap(s.events), DefaultEventQueue)
	}
	h.Publish(tokensEvent("a"))
	s.Close()
	s.Close() // harmless
	h.Publish(tokensEvent("b"))
	var got []string
	for ev := range s.Events() {
		got = append(got, ev.Tokens.Removed[0])
	}
	if len(got) != 1 || got[0] != "a" || s.Dropped() {
		t.Errorf("after Close: events %v, dropped %v; want [a], false", got, s.Dropped())
	}
	if h.Subscribers() != 0 {
		t.Errorf("Subscribers() = %d, want 0", h.Subscribers())
	}
}

func TestHubClose(t *testing.T) {
	h := NewHub()
	s := h.Subscribe(1, nil)
	h.Close()
	if _, ok := <-s.Events(); ok {
		t.Error("subscription still open after the hub closed")
	}
	late := h.Subscribe(1, nil)
	if _, ok := <-late.Events(); ok {
		t.Error("subscription after Close is open")
	}
	h.Publish(tokensEvent("x")) // no subscribers, no panic
	s.Close()
	late.Close()
}
