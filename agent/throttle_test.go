package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tokenagent/tokenagent/token"
)

// memStore is a StateStore in memory, shared by the agents of a test as
// the state directory is by the runs of the agent.
type memStore struct {
	mu    sync.Mutex
	files map[string][]byte
}

func (m *memStore) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.files[name]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return b, nil
}

func (m *memStore) WriteFile(name string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files == nil {
		m.files = map[string][]byte{}
	}
	m.files[name] = append([]byte(nil), data...)
	return nil
}

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	user, so := throttleKey{"tok", userPIN}, throttleKey{"tok", soPIN}
	t.Run("per origin", func(t *testing.T) {
		th := newThrottle(nil, nil, now)
		for i := 0; i < maxWrongPINs-1; i++ {
			th.wrongPIN(user, "https://a.example", now)
			if s := blocked(th, user, "https://a.example", now); s != notThrottled {
				t.Fatalf("blocked after %d wrong PINs", i+1)
			}
		}
		th.rightPIN(user, "https://a.example", now)
		th.wrongPIN(user, "https://a.example", now)
		if s := blocked(th, user, "https://a.example", now); s != notThrottled {
			t.Fatal("a right PIN did not reset the count")
		}
		// Later, so that the ceiling's window has forgotten these.
		now := now.Add(ceilingWindow)
		th.wrongPIN(user, "https://a.example", now)
		th.wrongPIN(user, "https://a.example", now)
		if w, s := th.blocked(user, "https://a.example", now.Add(time.Second)); w != throttlePeriod-time.Second || s != originThrottled {
			t.Errorf("wait = %v (%v), want %v for the origin", w, s, throttlePeriod-time.Second)
		}
		for _, other := range []struct {
			k      throttleKey
			origin string
		}{{user, "https://b.example"}, {user, "local"}, {throttleKey{"other", userPIN}, "https://a.example"}, {so, "https://a.example"}} {
			if s := blocked(th, other.k, other.origin, now); s != notThrottled {
				t.Errorf("%v blocked by another origin's, token's or kind's wrong PINs", other)
			}
		}
		if s := blocked(th, user, "https://a.example", now.Add(throttlePeriod)); s != notThrottled {
			t.Errorf("still blocked after the period")
		}
	})
	t.Run("the SO PIN has its own count", func(t *testing.T) {
		th := newThrottle(nil, nil, now)
		for i := 0; i < 10; i++ {
			// Two wrong SO PINs, then a right user PIN: the SO count goes on.
			th.wrongPIN(so, "local", now)
			if i%2 == 1 {
				th.rightPIN(user, "local", now)
			}
		}
		if s := blocked(th, so, "local", now); s == notThrottled {
			t.Error("the SO PIN is not throttled after 10 wrong SO PINs and right user PINs between")
		}
		if s := blocked(th, user, "local", now); s != notThrottled {
			t.Errorf("the user PIN is throttled (%v) by wrong SO PINs", s)
		}
	})
	t.Run("the ceiling across origins", func(t *testing.T) {
		th := newThrottle(nil, nil, now)
		at := now
		for i := 0; i < ceilingWrongPINs; i++ {
			if s := blocked(th, user, fmt.Sprint("origin-", i), at); s != notThrottled {
				t.Fatalf("a fresh origin blocked (%v) after %d wrong PINs", s, i)
			}
			th.wrongPIN(user, fmt.Sprint("origin-", i), at)
			th.rightPIN(user, fmt.Sprint("origin-", i+10), at) // right PINs do not lift the ceiling
			at = at.Add(time.Minute)
		}
		w, s := th.blocked(user, "a new origin", at)
		if want := now.Add(ceilingWindow).Sub(at); s != tokenThrottled || w != want {
			t.Errorf("a new origin after the ceiling: %v %v, want the token's wait %v", w, s, want)
		}
		if s := blocked(th, so, "a new origin", at); s != notThrottled {
			t.Errorf("the SO PIN is held by the user PIN's ceiling")
		}
		// The window slides: the first wrong PIN leaves it, and the next
		// one brings the ceiling back until the second leaves.
		at = now.Add(ceilingWindow)
		if s := blocked(th, user, "a new origin", at); s != notThrottled {
			t.Errorf("still blocked once the oldest wrong PIN left the window")
		}
		th.wrongPIN(user, "origin-9", at)
		if w, s := th.blocked(user, "origin-9", at); s != tokenThrottled || w != time.Minute {
			t.Errorf("after one more wrong PIN: %v %v, want the token's wait of 1m", w, s)
		}
	})
}

// TestThrottleSurvivesARestart: the counts are saved as they change, and
// an agent started on the same state has them; a wait is never longer than
// its period, even when the clock went back since it began; an unreadable
// file starts the agent without counts, with a warning.
func TestThrottleSurvivesARestart(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	user, so := throttleKey{"tok", userPIN}, throttleKey{"tok", soPIN}
	store := &memStore{}
	th := newThrottle(store, nil, now)
	for range maxWrongPINs {
		th.wrongPIN(user, "https://a.example", now)
	}
	th.wrongPIN(so, "local", now)
	th.wrongPIN(so, "local", now)

	again := newThrottle(store, nil, now.Add(time.Second))
	if w, s := again.blocked(user, "https://a.example", now.Add(time.Second)); s != originThrottled || w != throttlePeriod-time.Second {
		t.Errorf("after a restart: %v %v, want the origin's wait %v", w, s, throttlePeriod-time.Second)
	}
	again.wrongPIN(so, "local", now.Add(time.Second))
	if s := blocked(again, so, "local", now.Add(time.Second)); s != originThrottled {
		t.Errorf("the SO count was not kept: a third wrong SO PIN after the restart gives %v", s)
	}
	for range ceilingWrongPINs - maxWrongPINs {
		again.wrongPIN(user, "local", now.Add(time.Second))
	}
	earlier := now.Add(-time.Hour) // the clock went back an hour
	third := newThrottle(store, nil, earlier)
	if w, s := third.blocked(user, "local", earlier); s != tokenThrottled || w != ceilingWindow {
		t.Errorf("with the clock back an hour: %v %v, want the token's wait capped at %v", w, s, ceilingWindow)
	}
	if w, _ := third.blocked(user, "https://a.example", earlier.Add(ceilingWindow)); w > throttlePeriod {
		t.Errorf("an origin's wait of %v, longer than its period", w)
	}

	var logs strings.Builder
	_ = store.WriteFile(throttleFile, []byte("{not json"))
	fresh := newThrottle(store, slog.New(slog.NewTextHandler(&logs, nil)), now)
	if s := blocked(fresh, user, "https://a.example", now); s != notThrottled || !strings.Contains(logs.String(), "cannot be read") {
		t.Errorf("from an unreadable file: %v, log %q; want no counts and a warning", s, logs.String())
	}
}

// blocked is which limit holds calls of k from origin at at.
func blocked(th *throttle, k throttleKey, origin string, at time.Time) throttleScope {
	_, s := th.blocked(k, origin, at)
	return s
}

// pinHW is a token whose PIN is always wrong. Like the real token layer it
// serialises calls on the token; it counts the PIN tries that reach it.
type pinHW struct {
	fakeHW
	token chan struct{} // holds a value while a call is on the token
	tries atomic.Int32
}

func (h *pinHW) ChangePIN(ctx context.Context, tokenID string, oldPIN, newPIN []byte, confirmFinalTry bool) error {
	h.token <- struct{}{}
	defer func() { <-h.token }()
	h.tries.Add(1)
	time.Sleep(time.Millisecond) // a token takes its time (in the test's bubble), so the calls overlap
	return &token.PINError{Problem: token.PINIncorrect}
}

// auditLog records audit records.
type auditLog struct {
	mu   sync.Mutex
	recs []AuditRecord
}

func (l *auditLog) Audit(recs ...AuditRecord) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, recs...)
}

// TestThrottleConcurrentCalls fires wrong PINs at once: only maxWrongPINs
// may reach the token, however many calls run concurrently, and another
// origin gets only what is left of the token's ceiling.
func TestThrottleConcurrentCalls(t *testing.T) {
	synctest.Test(t, throttleConcurrentCalls)
}

func throttleConcurrentCalls(t *testing.T) {
	hw := &pinHW{token: make(chan struct{}, 1)}
	audit := &auditLog{}
	a := New(hw, Options{Audit: audit})
	hammer := func(origin string, n int) map[Kind]int {
		var mu sync.Mutex
		reasons := map[Kind]int{}
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				err := a.ChangePIN(context.Background(), Call{Origin: origin, Token: "tok", PIN: []byte("0000")}, []byte("1111"))
				var ae *Error
				if !errors.As(err, &ae) {
					t.Errorf("error %v, want an *Error", err)
					return
				}
				mu.Lock()
				reasons[ae.Kind]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return reasons
	}
	if got := hammer("https://a.example", 100); got[PINIncorrect] != maxWrongPINs || got[RateLimited] != 100-maxWrongPINs {
		t.Errorf("100 concurrent wrong PINs: outcomes %v, want %d PIN_INCORRECT and the rest RATE_LIMITED", got, maxWrongPINs)
	}
	if n := hw.tries.Load(); n != maxWrongPINs {
		t.Errorf("%d PIN tries reached the token, want %d", n, maxWrongPINs)
	}
	if got := hammer("https://b.example", 10); got[PINIncorrect] != ceilingWrongPINs-maxWrongPINs {
		t.Errorf("another origin: outcomes %v, want %d tries, the rest of the token's ceiling", got, ceilingWrongPINs-maxWrongPINs)
	}
	if len(audit.recs) != 110 {
		t.Errorf("%d audit records for 110 calls", len(audit.recs))
	}
	if n := len(a.throttle.turns); n != 0 {
		t.Errorf("%d turns left behind after the calls", n)
	}
}

// TestThrottleTurnEndsWithContext: a call waiting for its turn
// gives up when its context ends, and leaves nothing behind.
func TestThrottleTurnEndsWithContext(t *testing.T) {
	synctest.Test(t, throttleTurnEndsWithContext)
}

func throttleTurnEndsWithContext(t *testing.T) {
	th := newThrottle(nil, nil, time.Now())
	leave, err := th.enter(context.Background(), throttleKey{"tok", userPIN})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := th.enter(ctx, throttleKey{"tok", userPIN}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting for a held turn: %v, want the context's error", err)
	}
	other, err := th.enter(context.Background(), throttleKey{"other token", userPIN})
	if err != nil {
		t.Fatalf("another token's turn: %v", err)
	}
	other()
	leave()
	if n := len(th.turns); n != 0 {
		t.Errorf("%d turns left behind", n)
	}
}

// TestPINsAreCleared: a PIN-taking call clears the PINs it was given when
// it ends, whether the token refused them, took them, or the throttle
// kept them from it.
func TestPINsAreCleared(t *testing.T) {
	synctest.Test(t, pinsAreCleared)
}

func pinsAreCleared(t *testing.T) {
	hw := &pinHW{token: make(chan struct{}, 1)}
	a := New(hw, Options{})
	for i := range maxWrongPINs + 1 { // the last one is refused by the throttle
		pin, newPIN := []byte("0000"), []byte("1111")
		_ = a.ChangePIN(context.Background(), Call{Origin: "local", Token: "tok", PIN: pin}, newPIN)
		if string(pin) != "\x00\x00\x00\x00" || string(newPIN) != "\x00\x00\x00\x00" {
			t.Errorf("call %d: PINs %q and %q left after the call, want them cleared", i+1, pin, newPIN)
		}
	}
}
