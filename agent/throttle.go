package agent

import (
	"context"
	"sync"
	"time"
)

// Wrong-PIN throttle: after maxWrongPINs consecutive wrong PINs for one
// token from one origin, that origin's PIN-taking calls on that token are
// refused for throttlePeriod.
const (
	maxWrongPINs   = 3
	throttlePeriod = 60 * time.Second
)

type throttleKey struct{ origin, token string }

type throttleState struct {
	wrong int
	until time.Time
}

// throttleTurn lets one PIN-taking call per origin and token run at a time.
type throttleTurn struct {
	held  chan struct{} // holds a value while a call has the turn
	users int           // calls holding or waiting for the turn
}

// throttle counts wrong PINs per origin and token. It is safe for
// concurrent use.
//
// A call checks the count, tries the PIN and counts the outcome while it
// holds its origin's turn on the token (enter). Without the turn,
// concurrent calls would all pass the check before the first wrong PIN is
// counted, and a page firing a hundred calls at once would make a hundred
// login attempts and lock a real token.
type throttle struct {
	mu    sync.Mutex
	state map[throttleKey]*throttleState
	turns map[throttleKey]*throttleTurn
}

func newThrottle() *throttle {
	return &throttle{state: map[throttleKey]*throttleState{}, turns: map[throttleKey]*throttleTurn{}}
}

// enter waits until no other PIN-taking call from origin on token is in
// progress, or ctx ends. On success the caller has the turn until it calls
// leave.
func (t *throttle) enter(ctx context.Context, origin, token string) (leave func(), err error) {
	k := throttleKey{origin, token}
	t.mu.Lock()
	turn, ok := t.turns[k]
	if !ok {
		turn = &throttleTurn{held: make(chan struct{}, 1)}
		t.turns[k] = turn
	}
	turn.users++
	t.mu.Unlock()

	done := func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if turn.users--; turn.users == 0 {
			delete(t.turns, k)
		}
	}
	select {
	case turn.held <- struct{}{}:
		return func() { <-turn.held; done() }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// blocked returns how long the origin must still wait on the token; zero
// when it may go ahead.
func (t *throttle) blocked(origin, token string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.state[throttleKey{origin, token}]
	if !ok || !now.Before(st.until) {
		return 0
	}
	return st.until.Sub(now)
}

// wrongPIN counts a wrong PIN and starts the wait at the limit.
func (t *throttle) wrongPIN(origin, token string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := throttleKey{origin, token}
	st, ok := t.state[k]
	if !ok {
		st = &throttleState{}
		t.state[k] = st
	}
	st.wrong++
	if st.wrong >= maxWrongPINs {
		st.wrong, st.until = 0, now.Add(throttlePeriod)
	}
}

// rightPIN resets the count.
func (t *throttle) rightPIN(origin, token string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.state, throttleKey{origin, token})
}
