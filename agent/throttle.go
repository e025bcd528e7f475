package agent

import (
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

// throttle counts wrong PINs per origin and token. It is safe for
// concurrent use.
type throttle struct {
	mu    sync.Mutex
	state map[throttleKey]*throttleState
}

func newThrottle() *throttle {
	return &throttle{state: map[throttleKey]*throttleState{}}
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
